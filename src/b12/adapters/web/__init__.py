"""The web app (FastAPI + Jinja2 + vendored htmx): ``create_app(settings)`` in :mod:`b12.adapters.web.app`."""
