"""The agent: one background process per user that holds unlocked keys in memory, like ssh-agent.

- `protocol`: what a client may hand over, the framing, the peer check (standard library only);
- `client`: where this user's agent is, whether it may be trusted, one exchange with it (imported
  by the console entry before anything else, and by the store as a source of keys);
- `process` (with `loop`, `keys`, `requests`): the agent itself, which runs commands over the
  registers it holds open; `accountctl agent start` starts it as `python -m accountctl.agent.process`.

docs/security.md §2a says what it protects and what it does not.
"""
