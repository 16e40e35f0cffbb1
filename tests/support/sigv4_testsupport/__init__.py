"""Test support for sigv4-inspector, installed editable by scripts/setup and imported by name
(``from sigv4_testsupport.signing import capture``) from tests, scripts and benchmarks; nothing
puts tests/ or scripts/ on sys.path.

- :mod:`~sigv4_testsupport.fakeaws`: the local AWS-like endpoint (scripts/fakeaws.py is its
  command line); :mod:`~sigv4_testsupport.badhop`: the misbehaving hop (scripts/badhop.py);
- :mod:`~sigv4_testsupport.proxyharness`: a real mitmdump with the addon, for end-to-end tests;
- :mod:`~sigv4_testsupport.signing`: requests signed by real boto3 clients, captured unsent;
  :mod:`~sigv4_testsupport.realsigners`: the same from several signers;
  :mod:`~sigv4_testsupport.signedform`: which canonical form a signer signed;
  :mod:`~sigv4_testsupport.chunkedupload`: a large signed aws-chunked upload, generated;
- :mod:`~sigv4_testsupport.vectors`: AWS's public test suites in ../shared/vectors;
- :mod:`~sigv4_testsupport.fuzzing`: the hypothesis targets (tests/test_fuzz.py,
  scripts/fuzz_long.py);
- :mod:`~sigv4_testsupport.paths`: the checkout's root, ../shared and the vectors.
"""
