"""The script mitmproxy loads: ``mitmdump -s "$(sigv4-inspector addon-path)"``."""

from sigv4_inspector.addon import make_addons

addons = make_addons()
