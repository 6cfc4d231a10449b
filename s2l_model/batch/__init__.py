"""`batch`: many dub jobs from a timeline, run in parallel with a report (issue 7)."""
