"""The grading service: learners submit a notebook over HTTP and read their feedback seconds
later; the hidden suites never leave the server.

One concept per module:

    settings.py   where the database, the broker and the scratch folders are; the limits
    store.py      the database (SQLAlchemy's async engine): learners, submissions, suites
    tokens.py     bearer tokens (only their hash is stored) and the roster import
    queue.py      the job queue (Dramatiq on Redis) and the actor that grades a submission
    progress.py   workers announce status changes on the broker; the web app's streams wake on them
    grading.py    one stored submission through the confined grader (``autograder.grade``)
    upload.py     what an upload holds: its body within the limit, the notebook (raw or a form's file), its lesson
    app.py        the FastAPI routes: learners' submissions, the instructor's views
    headers.py    the security headers every response carries (CSP, nosniff, frame and referrer policies)
    instructor.py the class views: latest scores, a lesson, a learner, the queue, grades.csv, Gradescope's format
    statistics.py their numbers: histogram, per exercise and per test (pass rate, discrimination), per hour
    static/       the instructor's page: its HTML, one stylesheet and one script, served by app.py
    processes.py  ``autograder serve`` and ``autograder worker``: which processes run where,
                  restarted when they die
    broker.py     the Redis ``serve`` runs itself: one port, password and folder for its life,
                  so a restart is the same broker
    scratch.py    a worker's scratch folder, and removing those of workers that died
    client.py     ``autograder submit``: upload, then follow the progress to the feedback
"""
