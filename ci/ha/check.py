#!/usr/bin/env python3
"""Asks a running Home Assistant what it sees, as its own frontend would.

Run with the Python of Home Assistant's virtualenv (ci/ha/setup.sh install):
it uses aiohttp, which Home Assistant itself needs.

    check.py --url URL token --user U --password P [--wait S]
        waits up to S seconds for HA's HTTP API, logs in through the login
        flow (/auth/login_flow, /auth/token) and prints an access token
    check.py --url URL --token FILE states
        prints /api/states as JSON
    check.py --url URL --token FILE wait-state ENTITY [--state S] [--attr K=V]... [--timeout S]
        waits until ENTITY exists with that state and those attributes
        (values compared as text); prints it as JSON
    check.py --url URL --token FILE history ENTITY [--increasing]
        prints every state Home Assistant recorded for ENTITY over the last
        day, one a line (/api/history/period); with --increasing, fails if a
        number is lower than the number before it (unavailable and unknown
        in between are skipped)
    check.py --url URL --token FILE energy ENTITY [--allow TYPE]...
        makes ENTITY the Energy dashboard's grid consumption
        (energy/save_prefs over the websocket), runs the dashboard's own check
        (energy/validate), prints its answer; fails on any issue whose type is
        not allowed

Exit codes: 0 as asked; 1 not as asked (the reason on stderr); 2 usage.
"""

import argparse
import asyncio
import json
import sys
import time

import aiohttp

CLIENT_ID_PATH = "/"


def fail(message):
    print(f"check.py: {message}", file=sys.stderr)
    sys.exit(1)


async def token(session, url, args):
    deadline = time.monotonic() + args.wait
    while True:
        try:
            async with session.get(f"{url}/api/") as r:
                if r.status in (200, 401):
                    break
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            fail(f"no answer from {url}/api/ within {args.wait} s")
        await asyncio.sleep(1)
    client_id = url + CLIENT_ID_PATH
    body = {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id}
    async with session.post(f"{url}/auth/login_flow", json=body) as r:
        flow = await r.json()
    login = {"client_id": client_id, "username": args.user, "password": args.password}
    async with session.post(f"{url}/auth/login_flow/{flow['flow_id']}", json=login) as r:
        step = await r.json()
    if step.get("type") != "create_entry":
        fail(f"login refused: {step}")
    form = {"grant_type": "authorization_code", "code": step["result"], "client_id": client_id}
    async with session.post(f"{url}/auth/token", data=form) as r:
        tokens = await r.json()
    print(tokens["access_token"])


async def get(session, url, path, bearer):
    async with session.get(f"{url}{path}", headers={"Authorization": f"Bearer {bearer}"}) as r:
        if r.status == 404:
            return None
        if r.status != 200:
            fail(f"GET {path}: HTTP {r.status}")
        return await r.json()


async def states(session, url, args):
    print(json.dumps(await get(session, url, "/api/states", args.bearer), indent=1))


def mismatches(state, args):
    """What differs between ENTITY's state and what was asked."""
    if state is None:
        return ["no such entity"]
    found = []
    if args.state is not None and state["state"] != args.state:
        found.append(f"state {state['state']!r}, not {args.state!r}")
    for pair in args.attr:
        key, _, want = pair.partition("=")
        have = state["attributes"].get(key)
        if have is None or str(have) != want:
            found.append(f"{key} {have!r}, not {want!r}")
    return found


async def wait_state(session, url, args):
    deadline = time.monotonic() + args.timeout
    while True:
        state = await get(session, url, f"/api/states/{args.entity}", args.bearer)
        differences = mismatches(state, args)
        if not differences:
            print(json.dumps(state, indent=1))
            return
        if time.monotonic() > deadline:
            fail(f"{args.entity} after {args.timeout} s: {'; '.join(differences)}")
        await asyncio.sleep(0.5)


async def history(session, url, args):
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 86400))
    path = f"/api/history/period/{since}?filter_entity_id={args.entity}&minimal_response"
    found = await get(session, url, path, args.bearer) or [[]]
    states = [s["state"] for s in (found[0] if found else [])]
    last = None
    for state in states:
        print(state)
        try:
            value = float(state)
        except ValueError:
            continue
        if args.increasing and last is not None and value < last:
            fail(f"{args.entity} went from {last} to {value}")
        last = value
    if not states:
        fail(f"no recorded states of {args.entity}")


async def energy(session, url, args):
    ws_url = url.replace("http", "ws", 1) + "/api/websocket"
    async with session.ws_connect(ws_url) as ws:
        if (await ws.receive_json())["type"] != "auth_required":
            fail("the websocket did not ask for authentication")
        await ws.send_json({"type": "auth", "access_token": args.bearer})
        answer = await ws.receive_json()
        if answer["type"] != "auth_ok":
            fail(f"websocket authentication: {answer}")
        grid = {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": args.entity,
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [],
            "cost_adjustment_day": 0,
        }
        await ws.send_json({"id": 1, "type": "energy/save_prefs", "energy_sources": [grid]})
        saved = await ws.receive_json()
        if not saved.get("success"):
            fail(f"energy/save_prefs: {saved}")
        await ws.send_json({"id": 2, "type": "energy/validate"})
        checked = await ws.receive_json()
        if not checked.get("success"):
            fail(f"energy/validate: {checked}")
    result = checked["result"]
    print(json.dumps(result, indent=1))
    issues = [issue for source in result["energy_sources"] for issue in source]
    issues += [issue for device in result["device_consumption"] for issue in device]
    refused = [issue for issue in issues if issue["type"] not in args.allow]
    if refused:
        fail(f"the Energy dashboard's check found: {refused}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Home Assistant, e.g. http://127.0.0.1:18123")
    parser.add_argument("--token", help="file holding the access token")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("token")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--wait", type=float, default=0)
    sub.add_parser("states")
    p = sub.add_parser("wait-state")
    p.add_argument("entity")
    p.add_argument("--state")
    p.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("history")
    p.add_argument("entity")
    p.add_argument("--increasing", action="store_true")
    p = sub.add_parser("energy")
    p.add_argument("entity")
    p.add_argument("--allow", action="append", default=[], metavar="TYPE")
    args = parser.parse_args()
    if args.command != "token":
        if not args.token:
            parser.error(f"{args.command} needs --token FILE")
        with open(args.token) as f:
            args.bearer = f.read().strip()
    commands = {"token": token, "states": states, "wait-state": wait_state, "history": history, "energy": energy}

    async def run():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await commands[args.command](session, args.url.rstrip("/"), args)

    asyncio.run(run())


if __name__ == "__main__":
    main()
