-- negotiate.lua: dvmilter asks only for the stages and macros it needs.
conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
if mt.negotiate(conn, nil, nil, nil) ~= nil then error("negotiate failed") end
local want_on = { SMFIP_NOHELO, SMFIP_NOHDRS, SMFIP_NOBODY, SMFIP_NOEOH,
    SMFIP_NOUNKNOWN }
for _, o in ipairs(want_on) do
	if not mt.test_option(conn, o) then
		error("filter did not skip stage option " .. o)
	end
end
for _, o in ipairs({ SMFIP_NOMAIL, SMFIP_NORCPT, SMFIP_NOCONNECT, SMFIP_NR_RCPT }) do
	if mt.test_option(conn, o) then
		error("filter skipped a stage it needs: " .. o)
	end
end
if not mt.test_action(conn, SMFIF_SETSYMLIST) then
	error("filter did not request SETSYMLIST")
end
for _, a in ipairs({ SMFIF_ADDHDRS, SMFIF_CHGBODY, SMFIF_ADDRCPT, SMFIF_DELRCPT,
    SMFIF_CHGHDRS, SMFIF_QUARANTINE, SMFIF_CHGFROM }) do
	if mt.test_action(conn, a) then
		error("filter requested an action it never uses: " .. a)
	end
end
mt.disconnect(conn)
