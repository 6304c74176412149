"""The course's autograder.

The package is split along the trust boundary:

- ``autograder.sandbox`` runs a learner's code, in a separate process. It uses the standard
  library only and never imports anything else from ``autograder`` (a test checks this), so
  it can be copied to, and run from, a directory that holds nothing else.
- everything else is the trusted side: it reads notebooks, holds the hidden suites, runs the
  assertions, decides scores and writes results. It talks to the sandbox with plain data.
- ``autograder.service`` is the grading service (``autograder serve``): a web app, a queue and
  workers around the same grader, for a class that submits over HTTP.

Keep this file free of imports: ``python -m autograder.sandbox`` executes it.
"""
