-- lifecycle.lua: connections that end early and several transactions
-- on one connection must never upset the filter.
-- 1. A probe: connect and close before any SMTP stage (close without connect).
local c1 = mt.connect(sock, 40, 0.25)
if c1 == nil then error("connect 1") end
if mt.negotiate(c1, nil, nil, nil) ~= nil then error("negotiate 1") end
mt.disconnect(c1, true)

-- 2. Abort mid-transaction, then two more transactions on the same connection.
local c = mt.connect(sock, 40, 0.25)
if c == nil then error("connect 2") end
if mt.conninfo(c, "client.example", "192.0.2.7") ~= nil then error("conninfo") end
if mt.mailfrom(c, "<a@ext.example>") ~= nil then error("mailfrom 1") end
if mt.getreply(c) ~= SMFIR_CONTINUE then error("mail 1") end
if mt.rcptto(c, "<pending@example.com>") ~= nil then error("rcpt 1") end
if mt.getreply(c) ~= SMFIR_REPLYCODE then error("rcpt 1 not refused") end
if mt.abort(c) ~= nil then error("abort") end
for i = 1, 2 do
	if mt.mailfrom(c, "<b@ext.example>") ~= nil then error("mailfrom") end
	if mt.getreply(c) ~= SMFIR_CONTINUE then error("mail") end
	if mt.rcptto(c, "<approved@example.com>") ~= nil then error("rcpt") end
	if mt.getreply(c) ~= SMFIR_CONTINUE then error("rcpt refused") end
	if mt.data(c) ~= nil then error("data") end
	if mt.getreply(c) ~= SMFIR_ACCEPT then error("data reply") end
end
-- 3. End of message after DATA was sent: the MTA may still send EOM
-- when an earlier filter asked for content; the reply must be continue.
mt.disconnect(c)
