"""``python -m hubbub`` is the ``hubbub`` command."""

from hubbub.cli import main

if __name__ == "__main__":
    main()
