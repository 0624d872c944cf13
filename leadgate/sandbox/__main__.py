"""``python -m leadgate.sandbox``: run the sandbox CRM in the foreground (see ``leadgate.sandbox.server.main``)."""

from leadgate.sandbox import main

if __name__ == "__main__":
    raise SystemExit(main())
