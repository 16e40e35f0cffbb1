"""Shared pytest configuration. Helpers live in the installed test-support package
(tests/support/sigv4_testsupport: ``from sigv4_testsupport.signing import capture``);
nothing here touches sys.path."""
