"""Test support for sigv4-inspector (installed editable by scripts/setup): the local AWS-like
endpoint :mod:`sigv4_testsupport.fakeaws`."""
