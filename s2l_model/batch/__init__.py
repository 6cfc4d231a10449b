"""`batch`: many dub jobs from a timeline, run in parallel with a report (issue 7).

``timeline`` reads the jobs; ``jobs`` holds the job functions and what executors pass around; ``local``
(a process pool) and ``ray_executor`` (Ray tasks) are the executors, ``executors`` picks one by name;
``runner`` runs a timeline on one, with the report and resumption. ``subtitles``: subtitle events and the
casting of actors, for ``pipelines.subtitles``. ``nle`` (the optional OpenTimelineIO import, formats,
atomic save), ``nle_read`` (an editor's timeline as jobs, docs/NLE.md) and ``nle_write`` (the dubbed timeline
written back) are the editors' timelines, the ``nle`` extra.
"""
