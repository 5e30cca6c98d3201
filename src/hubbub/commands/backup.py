"""``hubbub backup`` and ``hubbub restore``: copies of the SQLite store, and back.

A restore must end in a new epoch: the restored log is older than what clients
have read, and ids continue from the restored ``last_id``, reusing numbers
they saw. With a new epoch every client holding a cursor from before is told a
reset (a gap) and served the restored log from its start, never silently.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hubbub.errors import StoreError
from hubbub.store.sqlite_files import BadFile, backup, restore

# A file argument that cannot be used is a mistake on the command line, as elsewhere;
# a failure of the store itself (a server holding the file) is 1.
USAGE, FAILED = 2, 1


def register(subparsers: Any) -> None:
    saving = subparsers.add_parser(
        "backup",
        help="copy the SQLite store to a new file (safe while the server runs)",
        description="Copy the SQLite store to a new file with SQLite's online backup.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    saving.add_argument("out", metavar="FILE", help="the backup file to write (must not exist)")
    saving.add_argument("--db", default="hubbub.db", help="the server's database file")
    saving.set_defaults(run=run_backup)

    restoring = subparsers.add_parser(
        "restore",
        help="put a backup in place of the store (server stopped); every room gets a new epoch",
        description=(
            "Copy BACKUP into the database file and start a new epoch for every room, so "
            "clients are told that the log went back. The server must be stopped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    restoring.add_argument("backup", metavar="BACKUP", help="a file made by hubbub backup")
    restoring.add_argument("--db", default="hubbub.db", help="the server's database file")
    restoring.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    try:
        backup(args.db, args.out)
    except StoreError as exc:
        print(f"hubbub backup: {exc}", file=sys.stderr)
        return USAGE if isinstance(exc, BadFile) else FAILED
    print(f"backed up {args.db} to {args.out}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    try:
        epoch = restore(args.backup, args.db)
    except StoreError as exc:
        print(f"hubbub restore: {exc}", file=sys.stderr)
        return USAGE if isinstance(exc, BadFile) else FAILED
    print(f"restored {args.backup} into {args.db}; every room's epoch is now {epoch}")
    return 0
