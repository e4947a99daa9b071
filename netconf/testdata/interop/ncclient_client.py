"""ncclient (python3-ncclient) as a client of our server; driven by
interop_test.go. Usage: ncclient_client.py HOST PORT USER PASSWORD BASE
where BASE is 1.0 (the client offers base:1.0 only) or 1.1. Prints one JSON
object with what it saw."""
import json
import sys

from ncclient import manager
from ncclient.devices.default import DefaultDeviceHandler
from ncclient.operations import RPCError
from ncclient.transport.session import NetconfBase
from ncclient.xml_ import to_ele

LIC = "urn:licbroker:yang:licensing"
HW = "urn:ietf:params:xml:ns:yang:ietf-hardware"


class Base10Only(DefaultDeviceHandler):
    _BASE_CAPABILITIES = [c for c in DefaultDeviceHandler._BASE_CAPABILITIES
                          if c != "urn:ietf:params:netconf:base:1.1"]


def main():
    host, port, user, password, base = sys.argv[1:6]
    params = {}
    if base == "1.0":
        params["device_params"] = {"handler": Base10Only}
    m = manager.connect(host=host, port=int(port), username=user, password=password,
                        hostkey_verify=False, allow_agent=False, look_for_keys=False,
                        timeout=20, **params)
    out = {"session_id": m.session_id,
           "server_caps": sorted(m.server_capabilities),
           "chunked": m._session._base == NetconfBase.BASE_11}
    out["get"] = m.get(filter=("subtree", '<hardware xmlns="%s"><component><name/><serial-num/></component></hardware>' % HW)).data_xml
    out["get_config"] = m.get_config("running").data_xml
    r = m.dispatch(to_ele('<install-license xmlns="%s"><license-file>L1 ipservices\nL1 ipservices\nbad\n</license-file></install-license>' % LIC))
    out["install"] = r.xml
    m.lock("running")
    m.unlock("running")
    out["schema"] = m.get_schema("licbroker-licensing").data
    try:
        m.dispatch(to_ele('<clear-license xmlns="%s"><license-id>L9</license-id></clear-license>' % LIC))
        out["error"] = None
    except RPCError as e:
        out["error"] = {"type": e.type, "tag": e.tag, "severity": e.severity, "app_tag": e.app_tag,
                        "path": e.path, "message": e.message}
    m.close_session()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
