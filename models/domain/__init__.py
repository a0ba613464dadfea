"""Pure domain rules: no database, no clock, no I/O at import."""
