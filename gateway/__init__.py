"""The Flask app: ``create_app()`` wires config, the Redis runtime and the blueprints."""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from adapters import KINDS
from gateway import admin_api
from gateway import auth
from gateway import dashboard
from gateway import health
from gateway import hooks
from gateway import limits
from gateway import openapi
from gateway import responses
from gateway import watch
from leadgate.config import Config
from leadgate.config import load_config
from leadgate.logs import configure_logging
from leadgate.runtime import Runtime

__all__ = ["create_app"]


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    """Builds the gateway; with no arguments the config comes from ``$LEADGATE_CONFIG``."""
    configure_logging()
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # "/hooks//x" is a 404, not a 308 a webhook sender may not follow
    if runtime is None:
        runtime = Runtime.from_config(config if config is not None else load_config(kinds=KINDS))
    app.extensions["leadgate"] = runtime
    assert isinstance(app.json, DefaultJSONProvider)  # a new Flask app's provider is the default one
    app.json.sort_keys = False
    responses.init_app(app)
    limits.init_app(app)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(health.bp)
    auth.init_app(app)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(watch.bp)
    app.register_blueprint(openapi.bp)
    return app
