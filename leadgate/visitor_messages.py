"""What a visitor whose form post was refused reads, in each language a source may choose.

A small catalogue in one module rather than gettext: a handful of sentences per language, no
build step, and a config check (``language: xx``) that can list what exists. A source picks
its language with ``language:``; a refusal page is rendered from :func:`refusal_text`. Pure
data: no Flask, no request; the technical detail (the adapter's message) stays in English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LANGUAGES", "RefusalText", "refusal_text"]


@dataclass(frozen=True)
class RefusalText:
    """The sentences of one refusal page, in one language."""

    language: str
    title: str
    explanation: str
    kept: str
    """Said when the post was stored anyway (``{event_id}`` is its reference)."""
    back: str
    detail_label: str


_CATALOGUE: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Your form was not sent",
        "400": "Something in the form could not be read. Please go back and send it again.",
        "403": "This form may not be sent from the page you used.",
        "413": "The form holds more than we can accept. Please shorten your message and send it again.",
        "415": "The form was sent in a format we cannot read. Please go back and send it again.",
        "422": (
            "We could not find an email address or phone number we can reach you at. "
            "Please go back, check those fields and send the form again."
        ),
        "429": "Too many forms were sent from your connection. Please wait a minute and try again.",
        "503": "We could not take your form just now. Please go back and send it again in a minute.",
        "kept": "What you sent was kept (reference {event_id}), so nothing you typed is lost.",
        "back": "Back to the form",
        "detail_label": "Technical detail",
    },
    "de": {
        "title": "Ihr Formular wurde nicht gesendet",
        "400": "Etwas im Formular konnte nicht gelesen werden. Bitte gehen Sie zurück und senden Sie es erneut.",
        "403": "Dieses Formular darf von der verwendeten Seite aus nicht gesendet werden.",
        "413": (
            "Das Formular enthält mehr, als wir annehmen können. "
            "Bitte kürzen Sie Ihre Nachricht und senden Sie sie erneut."
        ),
        "415": (
            "Das Formular wurde in einem Format gesendet, das wir nicht lesen können. "
            "Bitte gehen Sie zurück und senden Sie es erneut."
        ),
        "422": (
            "Wir haben keine E-Mail-Adresse und keine Telefonnummer gefunden, unter der wir Sie erreichen. "
            "Bitte gehen Sie zurück, prüfen Sie diese Felder und senden Sie das Formular erneut."
        ),
        "429": (
            "Von Ihrer Verbindung wurden zu viele Formulare gesendet. "
            "Bitte warten Sie eine Minute und versuchen Sie es erneut."
        ),
        "503": (
            "Wir konnten Ihr Formular gerade nicht annehmen. "
            "Bitte gehen Sie zurück und senden Sie es in einer Minute erneut."
        ),
        "kept": "Ihre Angaben wurden gespeichert (Referenz {event_id}), es geht also nichts verloren.",
        "back": "Zurück zum Formular",
        "detail_label": "Technische Angabe",
    },
    "fr": {
        "title": "Votre formulaire n'a pas été envoyé",
        "400": "Une partie du formulaire n'a pas pu être lue. Veuillez revenir en arrière et l'envoyer à nouveau.",
        "403": "Ce formulaire ne peut pas être envoyé depuis la page utilisée.",
        "413": (
            "Le formulaire contient plus que ce que nous pouvons accepter. "
            "Veuillez raccourcir votre message et l'envoyer à nouveau."
        ),
        "415": (
            "Le formulaire a été envoyé dans un format que nous ne savons pas lire. "
            "Veuillez revenir en arrière et l'envoyer à nouveau."
        ),
        "422": (
            "Nous n'avons trouvé ni adresse e-mail ni numéro de téléphone pour vous joindre. "
            "Veuillez revenir en arrière, vérifier ces champs et renvoyer le formulaire."
        ),
        "429": (
            "Trop de formulaires ont été envoyés depuis votre connexion. Veuillez patienter une minute et réessayer."
        ),
        "503": (
            "Nous n'avons pas pu recevoir votre formulaire pour le moment. "
            "Veuillez revenir en arrière et l'envoyer à nouveau dans une minute."
        ),
        "kept": (
            "Vos informations ont été conservées (référence {event_id}) : rien de ce que vous avez saisi n'est perdu."
        ),
        "back": "Retour au formulaire",
        "detail_label": "Détail technique",
    },
}

LANGUAGES: tuple[str, ...] = tuple(sorted(_CATALOGUE))
"""The languages a source's ``language:`` may name."""

_FALLBACK_STATUS = "400"
"""Refusals with no sentence of their own (a 401, a 405) read as "could not be read"."""


def refusal_text(language: str, status: int) -> RefusalText:
    """The page's sentences for a refusal with ``status``; an unknown language reads as English."""
    entries = _CATALOGUE.get(language) or _CATALOGUE["en"]
    return RefusalText(
        language=language if language in _CATALOGUE else "en",
        title=entries["title"],
        explanation=entries.get(str(status)) or entries[_FALLBACK_STATUS],
        kept=entries["kept"],
        back=entries["back"],
        detail_label=entries["detail_label"],
    )
