"""sigv4-inspector: mitmproxy addons that re-verify AWS request signatures the way AWS's
servers do and say why a request fails with SignatureDoesNotMatch.

Three layers (docs/architecture.md):

- :mod:`sigv4_inspector.core`: pure and typed. Parsing, AWS's canonical form, keys,
  verification, the rules and the record. No mitmproxy, botocore, threads, files, sockets
  or clocks: the same input always gives the same output.
- :mod:`sigv4_inspector.runtime`: credentials through botocore, endpoint data, the thread
  that hashes streamed uploads, the report file.
- :mod:`sigv4_inspector.addon`: mitmproxy addons, one class per concern.
"""

__version__ = "0.2.0"
