"""The console script's entry: hand a hot command to this user's agent before the CLI loads.

When the agent holds the key, `otp`, `cred show`, `account show|list`, `offboard` and `audit` run
there, over the register it keeps decrypted, and this process imports only `_socket` (no click,
keyring or cryptography; not even `socket` or `json`). Otherwise, or when the agent is gone, the
full CLI runs.
"""

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    from accountctl.errors import not_utf8

    refusal = not_utf8(argv)
    if refusal:
        sys.stderr.write(refusal + "\n")
        sys.exit(2)
    if os.environ.get("ACCOUNTCTL_NO_AGENT") != "1":
        from accountctl.agent import client as agent_client

        answer = agent_client.run(argv)
        if answer is not None:
            try:
                sys.stdout.buffer.write(answer["out"])
                sys.stdout.flush()
            except BrokenPipeError:
                pass
            sys.stderr.buffer.write(answer["err"])
            sys.stderr.flush()
            os._exit(int(answer.get("code", 2)))
    from accountctl.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
