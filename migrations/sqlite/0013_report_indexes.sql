-- Reports read the sessions that overlap a window: those that started before its end and
-- ended after its start. For recent windows the second bound is the narrow one.
CREATE INDEX ix_presence_sessions_ended_at ON presence_sessions (ended_at);
