"""The runtime: what the pure core must not do itself. The user's credentials through
botocore (loaded off mitmproxy's event loop, with a timeout), botocore's endpoint data,
the thread that hashes streamed uploads, and the report file."""
