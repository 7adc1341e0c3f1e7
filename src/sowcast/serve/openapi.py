"""The OpenAPI 3.1 document of ``sowcast serve``, served at ``/openapi.json``.

Written by hand beside the routes (:data:`sowcast.serve.api.ROUTES`); a test checks that
each route is documented and each documented operation is a route.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_NULL_STR = {"type": ["string", "null"]}
_PROB = {"type": ["number", "null"], "minimum": 0, "maximum": 1}


_NULL_NUM = {"type": ["number", "null"]}
_SCORE = {"type": "object", "properties": {"value": _NULL_NUM, "low": _NULL_NUM, "high": _NULL_NUM},
          "description": "a score and its 90 % interval when the years are resampled"}
_SKILL = {"type": "object", "required": ["issue_date", "assessed", "statement"], "properties": {
    "issue_date": _NULL_STR,
    "assessed": {"type": "boolean", "description": "false: no held-out scorecard came with the bundle; the "
                                                   "forecasts' skill is unknown"},
    "years": {"type": "array", "items": {"type": "integer"}, "description": "the held-out years scored"},
    "members": {"type": ["integer", "null"], "description": "the reforecasts' ensemble size"},
    "rain_terciles": {"type": "object", "properties": {
        "calibrated": {"type": "boolean", "description": "the scores of the calibrated probabilities (as issued)"},
        "rpss": {"type": "object", "additionalProperties": _SCORE,
                 "description": "period (week1, week2, weeks3-4, weeks5-6) -> ranked probability skill score "
                                "against climatology (0: no better, 1: perfect)"}}},
    "onset": {"type": ["object", "null"], "description": "the onset date as issued: mean absolute error (days) "
                                                        "beside the usual date's, bias (days; below 0: early) and "
                                                        "the error's skill against the usual date, with intervals; "
                                                        "by_week_brier_skill: week -> Brier skill of the chance of "
                                                        "onset by that week against the usual dates' chances, "
                                                        "by_week_brier_skill_low/_high: its 90 % interval over "
                                                        "the years (null where the scorecard has none)"},
    "statement": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                  "description": "language -> the bulletin's skill paragraphs, cautions included"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def _file(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {t: {"schema": {"type": "string", "format": "binary"}}
                        for t in ("text/html", "application/pdf", "image/png", "text/csv", "application/json",
                                  "application/x-netcdf", "text/javascript", "text/css")}}


_PATH_PARAM = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "a file below the folder; may hold '/' (e.g. bulletin/maps/onset.png); "
                              "'..', '.', empty and encoded separators are refused"}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Job": {
        "type": "object",
        "required": ["id", "kind", "status", "params", "source", "created", "attempts"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$", "description": "e.g. \"000042\""},
            "kind": {"type": "string", "enum": ["chain"]},
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "step": {"type": ["string", "null"], "enum": ["forecast", "products", "bulletin", "publish", None],
                     "description": "the step running (or the last one run)"},
            "params": {"type": "object", "properties": {"init": {"type": "string"}, "init_time": _NULL_STR}},
            "source": {"type": "string", "enum": ["api", "inbox", "schedule"]},
            "created": {"type": "string", "format": "date-time"},
            "started": {"type": ["string", "null"], "format": "date-time"},
            "finished": {"type": ["string", "null"], "format": "date-time"},
            "run_folder": {"type": ["string", "null"], "description": "relative to the service root"},
            "error": {"type": ["string", "null"], "description": "one line, when failed"},
            "attempts": {"type": "integer"},
        },
    },
    "Location": {
        "type": "object",
        "required": ["name", "lat", "lon", "advice", "advice_probability", "advice_text", "onset_by_week",
                     "false_start_risk", "dry_spell_risk", "planting_window"],
        "properties": {
            "name": {"type": "string"}, "lat": {"type": "number"}, "lon": {"type": "number"},
            "advice": {"type": ["string", "null"], "enum": ["plant_now", "buy_seed_now", "wait", "wait_false_start_risk",
                                                            "wait_dry_spell_risk", "season_started_dry_spell_risk",
                                                            "no_onset_expected", "no_data", None]},
            "advice_probability": _PROB,
            "advice_text": {"type": "object", "additionalProperties": _NULL_STR,
                            "description": "by language: en from products/locations.csv, the others the SMS of "
                                           "bulletin/sms.csv"},
            "onset_by_week": {"type": "array", "items": _PROB,
                              "description": "P(onset by the end of week 1..6), expected estimate"},
            "false_start_risk": _PROB, "dry_spell_risk": _PROB,
            "planting_window": {"type": ["array", "null"], "items": {"type": "string", "format": "date"},
                                "minItems": 2, "maxItems": 2},
        },
    },
    "Terciles": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"below": _PROB, "near": _PROB, "above": _PROB}},
        "description": "by period (week1..week6, weeks3-4, weeks5-6)"},
}

_LOCATION_DETAIL = {"allOf": [{"$ref": "#/components/schemas/Location"}, {
    "type": "object", "properties": {"issue_date": _NULL_STR,
                                     "weekly_rain_terciles": {"$ref": "#/components/schemas/Terciles"},
                                     "weekly_rain_dry_season": {
                                         "type": "object", "additionalProperties": {"type": "boolean"},
                                         "description": "by period: true where it is climatologically dry "
                                                        "(products.dry_season_mm_per_day), so no tercile "
                                                        "chance is given"},
                                     "members": {"type": ["integer", "null"],
                                                 "description": "ensemble members behind each percentage"}}}]}

_PATHS: dict[str, Any] = {
    "/": {"get": {"operationId": "dashboard", "summary": "the dashboard page",
                  "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}}},
    "/static/{path}": {"get": {"operationId": "static", "summary": "a file of the dashboard's static folder",
                               "parameters": [_PATH_PARAM],
                               "responses": {"200": _file("the file"), "400": _err("bad path"),
                                             "404": _err("no such file")}}},
    "/healthz": {"get": {"operationId": "healthz", "summary": "liveness (no token needed)", "security": [],
                         "responses": {"200": _json({"type": "object", "properties": {"status": {"const": "ok"}}},
                                                    "alive")}}},
    "/openapi.json": {"get": {"operationId": "openapi", "summary": "this document",
                              "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
    "/api/status": {"get": {"operationId": "status", "summary": "service status", "responses": {
        "200": _json({"type": "object", "required": ["version", "bundle_sha256", "queue_length", "current_job",
                                                     "latest_run", "issue_date", "started", "uptime_s"],
                      "properties": {"version": {"type": "string"}, "bundle_sha256": _NULL_STR,
                                     "queue_length": {"type": "integer"},
                                     "current_job": {"oneOf": [{"$ref": "#/components/schemas/Job"}, {"type": "null"}]},
                                     "latest_run": _NULL_STR, "issue_date": _NULL_STR,
                                     "started": {"type": "string", "format": "date-time"},
                                     "uptime_s": {"type": "number"}}}, "status"),
        "401": _err("token missing or wrong")}}},
    "/api/runs": {
        "get": {"operationId": "listRuns", "summary": "jobs, newest first",
                "parameters": [{"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, "jobs"),
                    "400": _err("bad limit"), "401": _err("token missing or wrong")}},
        "post": {"operationId": "queueRun", "summary": "queue a chain job (forecast, products, bulletin, publish)",
                 "requestBody": {"required": False, "content": {"application/json": {"schema": {
                     "type": "object", "additionalProperties": False, "properties": {
                         "init": {"type": "string", "description": "name of a .nc file or .zarr folder in the "
                                                                   "inbox; default: the configured serve.init"},
                         "init_time": {"type": "string", "format": "date",
                                       "description": "YYYY-MM-DD; default: the latest time in init"}}}}}},
                 "responses": {"202": _json({"type": "object", "properties": {
                     "id": {"type": "string"}, "status": {"const": "queued"}}}, "queued"),
                     "400": _err("bad body, init or init_time"), "401": _err("token missing or wrong"),
                     "404": _err("init not in the inbox"), "411": _err("chunked body"),
                     "413": _err("body too large (serve.max_body_bytes)"),
                     "415": _err("body not declared application/json")}}},
    "/api/runs/{id}": {"get": {"operationId": "getRun", "summary": "one job",
                               "parameters": [{"name": "id", "in": "path", "required": True,
                                               "schema": {"type": "string"}}],
                               "responses": {"200": _json({"$ref": "#/components/schemas/Job"}, "the job"),
                                             "401": _err("token missing or wrong"), "404": _err("no such job")}}},
    "/api/locations": {"get": {"operationId": "listLocations", "summary": "planting advice per location "
                                                                          "(latest published run)", "responses": {
        "200": _json({"type": "object", "properties": {
            "issue_date": _NULL_STR, "locations": {"type": "array", "items": {"$ref": "#/components/schemas/Location"}}}},
            "locations"),
        "401": _err("token missing or wrong"), "404": _err("nothing published yet")}}},
    "/api/locations/{name}": {"get": {"operationId": "getLocation", "summary": "one location, with its weekly rain "
                                                                              "terciles (name: URL-encoded, any case)",
                                      "parameters": [{"name": "name", "in": "path", "required": True,
                                                      "schema": {"type": "string"}}],
                                      "responses": {"200": _json(_LOCATION_DETAIL, "the location"),
                                                    "401": _err("token missing or wrong"),
                                                    "404": _err("unknown location or nothing published")}}},
    "/api/bulletins/latest": {"get": {"operationId": "latestBulletin", "summary": "the latest bulletin's files",
                                      "responses": {"200": _json({"type": "object", "properties": {
                                          "issue_date": _NULL_STR,
                                          "languages": {"type": "array", "items": {"type": "string"}},
                                          "files": {"type": "object", "additionalProperties": {"type": "string"},
                                                    "description": "html_<lang>, pdf_<lang>, sms_csv, bulletin_json: "
                                                                   "URLs under /files/latest/bulletin/"},
                                          "maps": {"type": "array", "items": {"type": "string"}}}}, "bulletin"),
                                          "401": _err("token missing or wrong"),
                                          "404": _err("nothing published, or no bulletin")}}},
    "/api/skill": {"get": {"operationId": "skill", "summary": "how good the forecasts were in held-out years "
                                                            "(reforecasts of years the model never saw), as the "
                                                            "latest bulletin states it",
                           "responses": {"200": _json(_SKILL, "the skill"), "401": _err("token missing or wrong"),
                                         "404": _err("nothing published, or no bulletin that states the skill")}}},
    "/files/latest/{path}": {"get": {"operationId": "latestFile", "summary": "a file of the latest published run "
                                                                            "(products/..., bulletin/...)",
                                     "parameters": [_PATH_PARAM],
                                     "responses": {"200": _file("the file"), "400": _err("bad path"),
                                                   "404": _err("no such file or nothing published")}}},
}


def document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict)."""
    import copy

    return {
        "openapi": "3.1.0",
        "info": {"title": "sowcast serve", "version": version,
                 "description": "The offline edge service: planting advice, bulletins and forecast jobs. "
                                "Errors are {\"error\": \"one sentence\"}. When the service has a token, every "
                                "/api/ request and every POST needs 'Authorization: Bearer <token>'."},
        "servers": [{"url": "/"}],
        "components": {"schemas": copy.deepcopy(_SCHEMAS),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": copy.deepcopy(_PATHS),
    }
