# The peer: the same Handler proc mounted on WEBrick, no eddy in between.
require 'webrick'
require_relative 'api/hello'

server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0)
server.mount_proc('/', &Handler)
$stdout.puts "listening #{server.listeners.first.addr[1]}"
$stdout.flush
trap('TERM') { server.shutdown }
server.start
