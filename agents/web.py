"""Query API on the worker's web server; a request for a key another worker owns is
forwarded to that worker (Faust's table routing)."""

from __future__ import annotations

from typing import Any

import msgspec
from faust import web

from agents.pipeline import Pipeline
from streams.clock import from_micros

_json = msgspec.json.Encoder()


def register_views(app: Any, pipeline: Pipeline) -> None:
    """Attach the query endpoints (documented in the README, Query API)."""

    @app.page("/reps/{rep_id}/kpis")
    @app.table_route(table=pipeline.reps.table, match_info="rep_id")
    async def rep_kpis(view: web.View, request: web.Request, rep_id: str) -> web.Response:
        state = pipeline.reps.get(rep_id)
        if state is None:
            return _not_found(view, f"no events seen for rep {rep_id!r}")
        clock = pipeline.clock_now()
        team = pipeline.roster.team_of(rep_id)
        body = {
            "scope": "rep",
            "id": rep_id,
            "team": team,
            "stream_time": from_micros(clock.now),
            "kpis": pipeline.rep_stage.kpis(state, team, clock),
        }
        return view.bytes(_json.encode(body), content_type="application/json")

    @app.page("/reps/{rep_id}/violations")
    @app.table_route(table=pipeline.reps.table, match_info="rep_id")
    async def rep_violations(
        view: web.View, request: web.Request, rep_id: str
    ) -> web.Response:
        state = pipeline.reps.get(rep_id)
        if state is None:
            return _not_found(view, f"no events seen for rep {rep_id!r}")
        body = {"rep_id": rep_id, "violations": pipeline.rep_stage.recent_violations(state)}
        return view.bytes(_json.encode(body), content_type="application/json")

    @app.page("/teams/{team}/kpis")
    @app.table_route(table=pipeline.teams.table, match_info="team")
    async def team_kpis(view: web.View, request: web.Request, team: str) -> web.Response:
        state = pipeline.teams.get(team)
        if state is None:
            return _not_found(view, f"no figures yet for team {team!r}")
        clock = pipeline.clock_now()
        body = {
            "scope": "team",
            "id": team,
            "stream_time": from_micros(clock.now),
            "kpis": pipeline.team_stage.kpis(state, team, clock),
        }
        return view.bytes(_json.encode(body), content_type="application/json")


def _not_found(view: web.View, message: str) -> web.Response:
    return view.bytes(
        _json.encode({"error": message}), content_type="application/json", status=404
    )
