"""The s2l command line: parsing, printing and exit codes only (the work is in s2l_model)."""
