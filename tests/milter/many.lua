-- many.lua: one transaction with `count` recipients bulkN@bulk.example;
-- every tenth mailbox is pending (the shell test imported them so).
-- With MaxRecipients = count, recipient count+1 is refused too.
conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
if mt.conninfo(conn, "client.example", "192.0.2.1") ~= nil then error("conninfo") end
if mt.mailfrom(conn, "<sender@ext.example>") ~= nil then error("mailfrom") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("MAIL FROM refused") end
local n = tonumber(count)
for i = 1, n + 1 do
	local a = "<bulk" .. i .. "@bulk.example>"
	if mt.rcptto(conn, a) ~= nil then error("rcptto " .. a) end
	local got = mt.getreply(conn)
	local want = SMFIR_CONTINUE
	if i % 10 == 0 or i > n then want = SMFIR_REPLYCODE end
	if got ~= want then
		error(a .. ": reply " .. tostring(got) .. " want " .. tostring(want))
	end
end
if mt.data(conn) ~= nil then error("data") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("DATA not accepted") end
mt.disconnect(conn)
