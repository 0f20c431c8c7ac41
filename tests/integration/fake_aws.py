#!/usr/bin/env python3
"""A stand-in for the AWS CLI's `aws apigateway …`, enough for the scripts that
deploy/apigateway-migrate.sh prints. State (resources, integrations, OPTIONS integration
responses, gateway responses, the stage's client certificate) lives in $FAKE_AWS_STATE (JSON);
every call is appended to $FAKE_AWS_STATE.calls, one JSON array of arguments per line. Answers
are printed as the CLI prints them: JSON with 4-space indents, keys in the service's order.
$FAKE_AWS_LIE=requestParameters makes put-integration drop request parameters, as a broken
change would, to show that the printed script notices."""
import json
import os
import sys

INTEGRATION_KEYS = ("type", "httpMethod", "uri", "connectionType", "connectionId", "credentials", "requestParameters",
                    "requestTemplates", "passthroughBehavior", "contentHandling", "timeoutInMillis", "cacheNamespace",
                    "cacheKeyParameters", "integrationResponses", "tlsConfig")
RESPONSE_KEYS = ("statusCode", "selectionPattern", "responseParameters", "responseTemplates", "contentHandling")
DEFAULT_TEMPLATES = {"application/json": "{\"message\":$context.error.messageString}"}


def ordered(d, keys):
    return {k: d[k] for k in keys if k in d}


def out(obj):
    sys.stdout.write(json.dumps(obj, indent=4) + "\n")


def fail(message):
    sys.stderr.write("\nAn error occurred (NotFoundException) when calling the operation: %s\n" % message)
    sys.exit(254)


def options(argv):
    """--name value pairs; --cli-input-json file://PATH is read in."""
    opts, i = {}, 0
    while i < len(argv):
        name = argv[i][2:]
        value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else True
        opts[name] = value
        i += 1 if value is True else 2
    if "cli-input-json" in opts:
        with open(opts["cli-input-json"][len("file://"):]) as f:
            opts["input"] = json.load(f)
    return opts


def query_text(obj, query):
    """The two --query forms the printed scripts use with --output text."""
    if query.startswith("responseParameters."):
        return obj.get("responseParameters", {}).get(query.split(".", 1)[1].strip('"'), "None")
    return obj.get(query, "None")


def main():
    state_path = os.environ["FAKE_AWS_STATE"]
    argv = sys.argv[1:]
    with open(state_path + ".calls", "a") as f:
        f.write(json.dumps(argv) + "\n")
    if argv[:1] != ["apigateway"]:
        fail("only apigateway")
    op, o = argv[1], options(argv[2:])
    with open(state_path) as f:
        state = json.load(f)
    ints, opts_resp, gw = state["integrations"], state.setdefault("options", {}), state.setdefault("gateway_responses", {})

    if op == "get-resources":
        path = o["query"].split("'")[1]
        print(" ".join(rid for p, rid in state["resources"].items() if p == path))
    elif op == "get-integration":
        if o["resource-id"] not in ints:
            fail("Invalid Integration identifier specified")
        out(ordered(ints[o["resource-id"]], INTEGRATION_KEYS))
    elif op == "put-integration":
        i = o["input"]
        new = dict(i, httpMethod=i["integrationHttpMethod"])
        new.setdefault("passthroughBehavior", "WHEN_NO_MATCH")
        new.setdefault("timeoutInMillis", 29000)
        new.setdefault("cacheNamespace", i["resourceId"])
        new.setdefault("cacheKeyParameters", [])
        if os.environ.get("FAKE_AWS_LIE") == "requestParameters":
            new.pop("requestParameters", None)
        ints[i["resourceId"]] = ordered(new, INTEGRATION_KEYS)
        out(ints[i["resourceId"]])
    elif op == "put-integration-response":
        i = o["input"]
        r = ordered(i, RESPONSE_KEYS)
        if i["httpMethod"] == "OPTIONS":
            opts_resp[i["resourceId"]] = r
        else:
            ints[i["resourceId"]].setdefault("integrationResponses", {})[i["statusCode"]] = r
            ints[i["resourceId"]] = ordered(ints[i["resourceId"]], INTEGRATION_KEYS)
        out(r)
    elif op == "get-integration-response":
        if o["http-method"] != "OPTIONS" or o["resource-id"] not in opts_resp:
            fail("Invalid Response status code specified")
        out(opts_resp[o["resource-id"]])
    elif op == "update-integration-response":
        r = opts_resp[o["resource-id"]]
        for patch in json.loads(o["patch-operations"]):
            r.setdefault("responseParameters", {})[patch["path"].split("/")[2]] = patch["value"]
        print(query_text(r, o["query"])) if "query" in o else out(r)
    elif op == "get-gateway-response":
        t = o["response-type"]
        out(gw.get(t, {"responseType": t, "defaultResponse": True, "responseParameters": {},
                       "responseTemplates": DEFAULT_TEMPLATES}))
    elif op == "put-gateway-response":
        i = o.get("input") or {"responseType": o["response-type"], "responseParameters": json.loads(o["response-parameters"])}
        new = {"responseType": i["responseType"], "defaultResponse": False}
        new.update(ordered(i, ("statusCode", "responseParameters")))
        new["responseTemplates"] = i.get("responseTemplates", DEFAULT_TEMPLATES)
        gw[i["responseType"]] = new
        out(new)
    elif op == "delete-gateway-response":
        gw.pop(o["response-type"], None)
    elif op == "get-stage":
        print(query_text(state["stage"], o["query"]))
    elif op == "generate-client-certificate":
        state["stage"]["pendingCertificateId"] = "cert1"
        print("cert1")
    elif op == "update-stage":
        state["stage"]["clientCertificateId"] = o["patch-operations"].rsplit("=", 1)[1]
    elif op == "get-client-certificate":
        print(state["client_certificate_pem"].strip())
    elif op == "create-deployment":
        state.setdefault("deployments", []).append(o["description"])
        out({"id": "dep%d" % len(state["deployments"])})
    else:
        fail("the fake does not know " + op)
    with open(state_path, "w") as f:
        json.dump(state, f)


def render_state(state):
    """What the get-* calls would print for every integration, OPTIONS response and gateway
    error response of a state, by name: the test compares these without a process per call."""
    snap = {}
    for path, rid in state["resources"].items():
        if rid in state["integrations"]:
            snap["integration " + path] = json.dumps(ordered(state["integrations"][rid], INTEGRATION_KEYS), indent=4) + "\n"
    for rid, r in state.get("options", {}).items():
        snap["options " + rid] = json.dumps(r, indent=4) + "\n"
    for t in ("DEFAULT_4XX", "DEFAULT_5XX"):
        gw = state.get("gateway_responses", {}).get(t, {"responseType": t, "defaultResponse": True, "responseParameters": {},
                                                         "responseTemplates": DEFAULT_TEMPLATES})
        snap["gateway " + t] = json.dumps(gw, indent=4) + "\n"
    return snap


if __name__ == "__main__":
    main()
