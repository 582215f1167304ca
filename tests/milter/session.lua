-- session.lua: one SMTP transaction, driven by -D variables.
--   sock      milter socket
--   client    client IP (default 192.0.2.1)
--   auth      if set, {auth_authen} sent with MAIL FROM
--   qid       if set, the queue id macro "i" sent with RCPT TO
--   from      envelope sender
--   from_expect  continue | reply (default continue)
--   rcpts     comma-separated recipients
--   expect    comma-separated: continue | reply, one per recipient
--   data_expect  accept | continue (default accept)
local function split(s)
	local t = {}
	for x in string.gmatch(s or "", "[^,]+") do t[#t + 1] = x end
	return t
end
local codes = { continue = SMFIR_CONTINUE, reply = SMFIR_REPLYCODE,
    accept = SMFIR_ACCEPT, tempfail = SMFIR_TEMPFAIL, reject = SMFIR_REJECT }

conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
if mt.conninfo(conn, "client.example", client or "192.0.2.1") ~= nil then
	error("conninfo failed")
end
if auth ~= nil then
	mt.macro(conn, SMFIC_MAIL, "{auth_authen}", auth)
end
if mt.mailfrom(conn, from or "<sender@ext.example>") ~= nil then
	error("mailfrom failed")
end
local r = mt.getreply(conn)
if r ~= codes[from_expect or "continue"] then
	error("MAIL FROM " .. (from or "") .. ": reply " .. tostring(r))
end
if r ~= SMFIR_CONTINUE then
	mt.disconnect(conn)
	return
end
local rc, ex = split(rcpts), split(expect)
if qid ~= nil then mt.macro(conn, SMFIC_RCPT, "i", qid) end
for i, a in ipairs(rc) do
	if mt.rcptto(conn, a) ~= nil then error("rcptto failed: " .. a) end
	local got = mt.getreply(conn)
	if got ~= codes[ex[i]] then
		error("RCPT " .. a .. ": reply " .. tostring(got) .. ", want " .. ex[i])
	end
end
if mt.data(conn) ~= nil then error("data failed") end
local d = mt.getreply(conn)
if d ~= codes[data_expect or "accept"] then
	error("DATA: reply " .. tostring(d))
end
mt.disconnect(conn)
