-- How often the result of an execution failed to load (a zero-byte file, an unreadable CSV...).
-- An execution whose result failed to load this many times (the policy's `max_load_failures`,
-- collection/next_step.py) is no longer resumed: the week's next attempt submits a new one.
ALTER TABLE workflow_executions ADD COLUMN load_failures integer NOT NULL DEFAULT 0;
