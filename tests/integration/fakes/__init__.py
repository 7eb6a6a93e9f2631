# fakes - stand-in SMTP and DNS servers for relayguard's integration tests and demo.
# Started as separate processes by tests/integration/conftest.py and scripts/demo.py; loopback only.
