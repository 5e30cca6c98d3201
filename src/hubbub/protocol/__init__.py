"""hubbub's wire protocol: validation, cursors and encodings, free of I/O."""
