"""``sowcast serve``: the offline edge service, a dashboard and a small JSON API over the
chain forecast -> products -> bulletin, for a box with no internet that may lose power.

Built on the Python standard library only (``http.server.ThreadingHTTPServer``,
``sqlite3``, ``subprocess``, ``threading``), no web framework: the edge install stays light
and the attack surface small. One concept per file:

* :mod:`.settings`  the validated ``serve:`` config (conf/serve/default.yaml);
* :mod:`.journal`   the SQLite job journal (WAL, ``synchronous=FULL``): survives kill -9;
* :mod:`.jobs`      one worker thread running one chain job at a time as subprocesses;
* :mod:`.publish`   atomic publication of a finished run and the ``latest`` symlink flip;
* :mod:`.results`   reading the published run (status, locations, bulletins) for the API;
* :mod:`.inbox`     the inbox poller (new initial conditions queue a job);
* :mod:`.schedule`  the optional daily schedule;
* :mod:`.security`  bind policy, bearer token, path confinement, response headers;
* :mod:`.api`       the routes; :mod:`.openapi` their OpenAPI 3.1 document;
* :mod:`.handler`   the request handler (limits, errors, one log line per request);
* :mod:`.service`   wiring, start-up recovery and clean shutdown on SIGTERM.
"""
