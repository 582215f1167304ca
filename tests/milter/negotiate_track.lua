-- negotiate_track.lua: with plugins configured the content is needed,
-- without a reply to each header and body chunk.
conn = mt.connect(sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
if mt.negotiate(conn, nil, nil, nil) ~= nil then error("negotiate failed") end
for _, o in ipairs({ SMFIP_NOHDRS, SMFIP_NOBODY, SMFIP_NOEOH }) do
	if mt.test_option(conn, o) then error("content stage skipped: " .. o) end
end
for _, o in ipairs({ SMFIP_NR_HDR, SMFIP_NR_BODY, SMFIP_NOHELO }) do
	if not mt.test_option(conn, o) then error("option not set: " .. o) end
end
mt.disconnect(conn)
