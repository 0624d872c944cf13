"""Cells a spreadsheet will not execute: the OWASP CSV-injection rule for every CSV leadgate writes.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``, ``@SUM(1+1)``).
Lead data is written by strangers, so such a cell gets a leading single quote: spreadsheets show
the text as typed and run nothing. :func:`restore` undoes it for a file leadgate wrote itself (a
failed-rows report imported again), so a phone number such as ``+1 555 0100`` round-trips intact.
"""

from __future__ import annotations

__all__ = ["FORMULA_STARTS", "neutralise", "restore"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def neutralise(cell: str) -> str:
    """``cell`` as safe text: prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return ESCAPE + cell if cell.startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` was given (only a ``'`` that it added is removed)."""
    if cell.startswith(ESCAPE) and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell
