"""Pages only ``leadgate dev`` serves: a demo form, and the thank-you and error pages its starter config names.

They make the starter config's ``redirect`` and ``error_redirect`` land somewhere real, so a browser
post on a laptop shows the whole round trip (form -> gateway -> 303 -> page). The production app
(gunicorn) never registers this blueprint.
"""

from __future__ import annotations

from flask import Blueprint
from flask import render_template_string
from flask import request
from markupsafe import Markup

__all__ = ["DEMO_SOURCE", "bp"]

DEMO_SOURCE = "contact-us"
"""The starter config's form source, which the demo form posts to."""

bp = Blueprint("dev_pages", __name__, url_prefix="/dev")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} - leadgate dev</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0}input,textarea{width:100%;padding:.4rem;font:inherit}
.hp{position:absolute;left:-9999px}</style></head>
<body><h1>{{ title }}</h1>{{ body }}</body></html>"""

FORM = """<p>This form posts to <code>/hooks/{{ hook }}</code> like a form on your site would; the
source's <code>redirect</code> brings you back to the thank-you page.</p>
<form method="post" action="/hooks/{{ hook }}">
<label>Name <input name="name" autocomplete="name"></label>
<label>Email <input name="email" type="email" autocomplete="email"></label>
<label>Phone <input name="phone" type="tel" autocomplete="tel"></label>
<label>Message <textarea name="message" rows="3"></textarea></label>
<input class="hp" name="_gotcha" tabindex="-1" autocomplete="off" aria-hidden="true">
<button type="submit">Send</button></form>"""


def _page(title: str, body: str, **values: str) -> str:
    inner = Markup(render_template_string(body, **values))  # values escaped in there: the page is safe to nest
    return render_template_string(PAGE, title=title, body=inner)


@bp.get("/form")
def demo_form() -> str:
    return _page("Demo form", FORM, hook=DEMO_SOURCE)


@bp.get("/thanks")
def thanks() -> str:
    return _page(
        "Thank you",
        "<p>The gateway accepted the post (this is the source's <code>redirect</code>). "
        'See it in the <a href="/admin/">dashboard</a> or with <code>leadgate events</code>.</p>'
        '<p><a href="/dev/form">Send another</a></p>',
    )


@bp.get("/oops")
def oops() -> str:
    return _page(
        "The post was refused",
        "<p>This is the source's <code>error_redirect</code>; the gateway said: "
        "<strong>{{ error }}</strong>{% if event_id %} (event {{ event_id }}){% endif %}.</p>"
        '<p><a href="/dev/form">Back to the form</a></p>',
        error=request.args.get("error", "unknown"),
        event_id=request.args.get("event_id", ""),
    )
