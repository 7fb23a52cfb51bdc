"""Generic file-drop intake: a folder, an FTP directory or an S3 prefix polled on a schedule.

Pattern from the fact sheet /work/shared/research/erp-side.md §4.1 (drop folders: local/network directory and FTP
are 1C's own transports; S3 needs a sync agent or custom code — here a pluggable source needing ``boto3``).

Rules, identical for every source:

* a file is taken only when its size (and modification time, when the source has one) is the same on two
  consecutive polls — a file still being written or uploaded is left alone;
* names starting with ``.`` and ending in ``.tmp``/``.part``/``.partial`` are never taken (writers use them for
  in-progress uploads);
* the file is handed to the ``handler(path, name)`` callback (sync or async; sync handlers run in a thread);
* success → moved to ``archive/<UTC timestamp>_<name>``;
* :class:`~b24sync.engine.errors.RetryableError`/``DeferError`` → left in place, tried again at a later poll;
* any other error (bad data, :class:`~b24sync.engine.errors.PermanentError`, a bug) → moved to
  ``rejected/<UTC timestamp>_<name>`` next to ``…<name>.reason.txt`` holding the reason, so a person sees it.

Used by the CommerceML connector (1C drops import/offers packages) and by the bank-statement reader
(``1CClientBankExchange`` files, §4.4).
"""

from b24sync.connectors.filedrop.core import DropEntry, DropSource, FileDrop, PollResult  # noqa: F401
from b24sync.connectors.filedrop.sources import FTPSource, LocalFolderSource, S3Source  # noqa: F401
