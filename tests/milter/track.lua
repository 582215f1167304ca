-- track.lua: one message with headers and a body, driven by -D variables.
--   sock, rcpt, data_expect (accept|continue), eom_expect (continue|reply),
--   body (repeat count of a 100-byte line, default 3), msgid ("none": no
--   Message-ID header),
--   subject (default "Printer on fire"), in_reply_to, xheader ("Name: value"),
--   client (IP, default 192.0.2.1), from (default ann@ext.example),
--   subject_change (yes|no: whether EOM must change the Subject)
conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
if mt.conninfo(conn, "client.example", client or "192.0.2.1") ~= nil then error("conninfo") end
if mt.mailfrom(conn, "<" .. (from or "ann@ext.example") .. ">") ~= nil then error("mailfrom") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("MAIL FROM refused") end
if mt.rcptto(conn, rcpt) ~= nil then error("rcptto") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("RCPT refused") end
if mt.data(conn) ~= nil then error("data") end
local d = mt.getreply(conn)
if data_expect == "accept" then
	if d ~= SMFIR_ACCEPT then error("DATA: want accept, got " .. tostring(d)) end
	mt.disconnect(conn)
	return
end
if d ~= SMFIR_CONTINUE then error("DATA: want continue, got " .. tostring(d)) end
if msgid ~= "none" then
	if mt.header(conn, "Message-ID", "<" .. (msgid or "m1@ext.example") .. ">") ~= nil then error("header") end
end
if mt.header(conn, "Subject", subject or "Printer on fire") ~= nil then error("header") end
if in_reply_to ~= nil then
	if mt.header(conn, "In-Reply-To", "<" .. in_reply_to .. ">") ~= nil then error("header") end
end
if xheader ~= nil then
	local n, v = string.match(xheader, "^([^:]+):%s*(.*)$")
	if mt.header(conn, n, v) ~= nil then error("header") end
end
if mt.eoh(conn) ~= nil then error("eoh") end
local line = string.rep("x", 98) .. "\r\n"
for i = 1, tonumber(body or "3") do
	if mt.bodystring(conn, line) ~= nil then error("body") end
end
if mt.eom(conn) ~= nil then error("eom") end
local e = mt.getreply(conn)
local want = SMFIR_CONTINUE
if eom_expect == "reply" then want = SMFIR_REPLYCODE end
if e ~= want then error("EOM: got " .. tostring(e)) end
if subject_change == "yes" and not mt.eom_check(conn, MT_HDRCHANGE, "Subject") then
	error("EOM: the subject was not changed")
end
if subject_change == "no" and mt.eom_check(conn, MT_HDRCHANGE, "Subject") then
	error("EOM: the subject was changed")
end
mt.disconnect(conn)
