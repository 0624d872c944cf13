"""Bulk CSV import: stream a CSV into ConnectGain's bulk endpoints, resumably.

A file is read once to hash it (and check it is UTF-8), then streamed row by row with
:mod:`csv`: rows are validated one at a time, valid ones are buffered into chunks of at most
the endpoint's limit (500 contacts, 100 leads, 100 deals) and each chunk is posted as one
request. Memory holds one chunk, never the file.

Rows become payloads the way the gateway builds them: contacts and leads through the form
adapter's ``normalize`` (a header row is mapped exactly like a form post, ``field_map``
included), deals through :func:`deal_payload`. A bad row is reported with its line number and
reason and never stops the run; ``results[]`` of each answer are mapped back to rows by index.
Every rejected row (invalid here, or failed at ConnectGain) goes to a failed-rows CSV that can be
fixed and imported again: its ``_line`` and ``_error`` columns start with ``_``, which the form
mapping ignores.

Resuming: a journal next to the CSV (:class:`ImportJournal`) records every chunk as sent and as
done, keyed by the file's SHA-256, the kind and the source. Chunks are numbered over valid rows
in file order, so a re-run forms the same chunks and skips the done ones. The one chunk in
flight when the process died is sent again (ConnectGain merges contacts on e-mail and phone;
deals are re-sent with ``skip_if_exists``).

No Redis and no queue: the import talks to ConnectGain directly and the caller renders progress.

Modules, one concept each: :mod:`.options` (what a run may be asked, the limits it works
within), :mod:`.progress` (what it reports), :mod:`.exceptions` (how it ends early),
:mod:`.records` (reading the CSV), :mod:`.payloads` (rows to bulk items), :mod:`.journal`
(the resume state file), :mod:`.failed_rows` (the failed-rows report), :mod:`.answers`
(reading ConnectGain's answers) and :mod:`.run` (the run itself). This package re-exports
the public names only; it must not hold logic of its own.
"""

from workers.importer.exceptions import ImportFailure
from workers.importer.exceptions import ImportRefused
from workers.importer.exceptions import ImportStopped
from workers.importer.journal import ImportJournal
from workers.importer.options import ENDPOINTS
from workers.importer.options import Endpoint
from workers.importer.options import ImportOptions
from workers.importer.payloads import deal_payload
from workers.importer.progress import ChunkOutcome
from workers.importer.progress import ImportListener
from workers.importer.progress import ImportPlan
from workers.importer.progress import ImportSummary
from workers.importer.records import read_records
from workers.importer.run import run_import

__all__ = [
    "ENDPOINTS",
    "ChunkOutcome",
    "Endpoint",
    "ImportFailure",
    "ImportJournal",
    "ImportListener",
    "ImportOptions",
    "ImportPlan",
    "ImportRefused",
    "ImportStopped",
    "ImportSummary",
    "deal_payload",
    "read_records",
    "run_import",
]
