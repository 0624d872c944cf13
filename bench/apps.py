"""The contenders the gateway is measured against, served by gunicorn with the gateway's own config.

``bare_app()`` is Flask answering 200 and nothing else: the ceiling for any Flask app under
these gunicorn settings. ``durable_app()`` is the least any gateway that keeps its promise must
do: parse the post, check it carries a contact, and store it durably in one Redis transaction
before answering 202 (the honest floor for acknowledging a lead at all). ``forwarder_app()``
is the naive design leadgate exists to avoid: it maps the form post to a lead and calls
ConnectGain's ``/create-lead`` inside the request, so every sender waits for the CRM (a pooled
httpx client, to be fair to it). All are started as
``gunicorn --config gunicorn.conf.py "bench.apps:bare_app()"``; the forwarder reads the CRM's
URL and key from ``BENCH_CRM_URL`` and ``BENCH_CRM_API_KEY``.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import redis
from flask import Flask
from flask import Response
from flask import jsonify
from flask import request

__all__ = ["bare_app", "durable_app", "forwarder_app"]

FORM_FIELDS = {"email": "email", "phone": "phone", "company": "company_name", "message": "description"}


def bare_app() -> Flask:
    """POST anything to /hooks/<id>: 200."""
    app = Flask(__name__)

    @app.post("/hooks/<source_id>")
    def receive(source_id: str) -> tuple[str, int]:
        request.get_data()
        return "ok", 200

    @app.get("/readyz")
    def ready() -> tuple[str, int]:
        return "ok", 200

    return app


def durable_app() -> Flask:
    """POST a form (an e-mail or a phone) or a Facebook notification to /hooks/<id>: stored durably, then 202.

    One ``MULTI``: ``SET NX`` of a dedupe key (the body's e-mail or the notification's ``leadgen_id``),
    ``HSET`` of the event (fields and raw body), ``ZADD`` to a due set; hiredis packs and parses as it
    does for the gateway. Redis from ``REDIS_URL`` (the run's embedded Redis, AOF on, everysec).
    """
    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])

    def store(dedupe: str, fields: dict[str, str], raw: bytes) -> tuple[Response, int]:
        event_id = uuid.uuid4().hex
        now = time.time()
        with client.pipeline() as pipe:
            pipe.set(f"min:dd:{dedupe}", event_id, nx=True, ex=86400)
            pipe.hset(f"min:ev:{event_id}", mapping={**fields, "raw": raw, "received_at": now})
            pipe.zadd("min:due", {event_id: now})
            fresh, _, _ = pipe.execute()
        return jsonify({"ok": True, "event_id": event_id, "duplicate": not fresh}), 202

    @app.post("/hooks/<source_id>")
    def receive(source_id: str) -> tuple[Response, int]:
        raw = request.get_data()
        if request.mimetype == "application/json":
            body = json.loads(raw)
            value = body["entry"][0]["changes"][0]["value"]
            return store(str(value["leadgen_id"]), {"source": source_id, "page_id": str(value["page_id"])}, raw)
        form = request.form
        contact = form.get("email") or form.get("phone")
        if not contact:
            return jsonify({"ok": False, "error": "an email or a phone is required"}), 422
        return store(contact.lower(), {"source": source_id, **form.to_dict()}, raw)

    @app.get("/readyz")
    def ready() -> tuple[str, int]:
        return "ok", 200

    return app


def forwarder_app() -> Flask:
    """POST a form to /hooks/<id>: the lead goes to ConnectGain before the sender gets its answer."""
    app = Flask(__name__)
    crm_url = os.environ["BENCH_CRM_URL"].rstrip("/")
    api_key = os.environ["BENCH_CRM_API_KEY"]
    client = httpx.Client(
        timeout=httpx.Timeout(30.0), limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
    )

    @app.post("/hooks/<source_id>")
    def receive(source_id: str) -> tuple[Response, int]:
        form = request.form
        first, _, last = (form.get("name") or "").partition(" ")
        lead = {"first_name": first, "last_name": last, "source": "website_form", "tags": ["website"]}
        lead.update({target: form[name] for name, target in FORM_FIELDS.items() if form.get(name)})
        try:
            answer = client.post(f"{crm_url}/create-lead", json=lead, headers={"X-API-Key": api_key})
        except httpx.HTTPError as err:
            return jsonify({"ok": False, "error": type(err).__name__}), 502
        if not answer.is_success:
            return jsonify({"ok": False, "status": answer.status_code}), 502
        return jsonify({"ok": True}), 202

    @app.get("/readyz")
    def ready() -> tuple[str, int]:
        return "ok", 200

    return app
