"""`pipelines`: the top layer. Each module is one call that runs a whole task through the stages below it
(a library user's one line; the CLI commands only parse options, call it and print)."""
