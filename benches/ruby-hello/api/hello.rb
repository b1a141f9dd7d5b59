# The handler both sides serve: through eddy, and through a bare WEBrick server (peer.rb).
Handler = Proc.new do |_req, res|
  res.status = 200
  res['Content-Type'] = 'text/plain'
  res.body = 'hello'
end
