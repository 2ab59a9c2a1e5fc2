#!/usr/bin/python
"""Ansible module of the horus_robot role: one verified install transaction on a robot.

The work is horus_pipeline/robot/install.py (module_utils/horus_robot links to it): this file only
maps the module's arguments to its Request and its Result to the module's answer.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: horus_release
short_description: Verify a signed HORUS release on the robot and install, confirm or revert it
description:
  - C(apply) verifies the exact manifest bytes against the robot's own trust anchor, then installs and switches.
  - C(health) waits on the robot for the health endpoint to answer 200 for a release (the role judges the answer).
  - C(gate) is C(health) and then, once the release answered 200, confirms it (every unit active; marked
    healthy); C(revert) puts the robot back.
options:
  phase: {type: str, required: true, choices: [apply, health, gate, revert]}
  image: {type: str, required: true}
  manifest: {type: str, default: "", description: the release manifest's bytes, base64}
  signature: {type: str, default: "", description: its ssh-keygen signature's bytes, base64}
author: HORUS robot images
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (after DOCUMENTATION, as Ansible modules are)
from ansible.module_utils.horus_robot import assemble, contract, install  # noqa: E402

ARGS = {
    "phase": {"type": "str", "required": True, "choices": ["apply", "health", "gate", "revert"]},
    "image": {"type": "str", "required": True},
    "manifest": {"type": "str", "default": ""},
    "signature": {"type": "str", "default": ""},
    "namespace": {"type": "str", "default": ""},
    "params": {"type": "dict", "default": {}},
    "start_limit_burst": {"type": "int", "default": 5},
    "start_limit_interval": {"type": "int", "default": 60},
    "signer_identity": {"type": "str", "default": "horus-release"},
    "allow_unsigned": {"type": "bool", "default": False},
    "allow_downgrade": {"type": "bool", "default": False},
    "bootstrap_trust": {"type": "bool", "default": False},
    "bootstrap_signers": {"type": "str", "default": ""},
    "keyring_bodies": {"type": "list", "elements": "str", "default": []},
    "keyring_signatures": {"type": "list", "elements": "str", "default": []},
    "layers_tar": {"type": "str", "default": ""},
    "layers_inline": {"type": "str", "default": ""},
    "rollback": {"type": "bool", "default": False},
    "prefix": {"type": "str", "default": ""},
    "app": {"type": "str", "default": ""},
    "release": {"type": "str", "default": ""},
    "digest": {"type": "str", "default": ""},
    "fallback": {"type": "str", "default": ""},
    "since": {"type": "float", "default": 0.0},
    "confirm_timeout": {"type": "int", "default": 900},
    "health_timeout": {"type": "int", "default": 180},
    "health_interval": {"type": "float", "default": 0.5},
    "keep_releases": {"type": "int", "default": 3},
    "smoke_imports": {"type": "list", "elements": "str", "default": []},
    "journal_lines": {"type": "int", "default": 40},
    "disk_margin_mb": {"type": "int", "default": 200},
    "hold_timeout": {"type": "int", "default": 600},
    "ignore_holds": {"type": "bool", "default": False},
    # The metrics gateway: listen, allow, users, tokens, and the TLS certificate and key (PEM text).
    "metrics": {"type": "dict", "default": {}, "no_log": True},
    # The journal upload: url, and the robot's certificate and key and the collector's CA (PEM text).
    "journal_upload": {"type": "dict", "default": {}, "no_log": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGS, supports_check_mode=True)
    p = module.params
    req = install.Request(
        image=p["image"],
        manifest=install.b64(p["manifest"]),
        signature=install.b64(p["signature"]),
        namespace=p["namespace"],
        params=p["params"],
        start_limit=(p["start_limit_burst"], p["start_limit_interval"]),
        signer_identity=p["signer_identity"],
        allow_unsigned=p["allow_unsigned"],
        allow_downgrade=p["allow_downgrade"],
        bootstrap_trust=p["bootstrap_trust"],
        bootstrap_signers=install.b64(p["bootstrap_signers"]),
        keyrings=[
            (install.b64(b), install.b64(s)) for b, s in zip(p["keyring_bodies"], p["keyring_signatures"], strict=False)
        ],
        layers_tar=p["layers_tar"],
        layers_inline=install.b64(p["layers_inline"]),
        rollback=p["rollback"],
        prefix=p["prefix"],
        app=p["app"],
        release=p["release"],
        digest=p["digest"],
        fallback=p["fallback"],
        since=p["since"],
        confirm_timeout=p["confirm_timeout"],
        health_timeout=p["health_timeout"],
        health_interval=p["health_interval"],
        keep_releases=p["keep_releases"],
        smoke_imports=p["smoke_imports"],
        metrics=p["metrics"],
        journal_upload=p["journal_upload"],
        journal_lines=p["journal_lines"],
        disk_margin_mb=p["disk_margin_mb"],
        hold_timeout=p["hold_timeout"],
        ignore_holds=p["ignore_holds"],
        check_mode=module.check_mode,
    )
    try:
        if module.check_mode and p["phase"] != "apply":
            module.exit_json(changed=True, status="checked")
        phase = {
            "apply": install.apply,
            "health": install.health,
            "gate": install.gate,
            "revert": install.revert,
        }[p["phase"]]
        result = phase(req)
    except (install.InstallError, assemble.AssemblyError, contract.ContractError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{exc} (nothing was switched; fix it and deploy again)")
    module.exit_json(
        changed=result.changed, status=result.status, messages=result.messages, diff=result.diff, **result.answer
    )


if __name__ == "__main__":
    main()
