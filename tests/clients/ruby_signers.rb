# Ruby signer driver for tests/test_signer_matrix.py (Debian's ruby-aws-sdk-s3 and
# ruby-aws-sigv4).
#
#   ruby ruby_signers.rb {aws-sdk-s3|aws-sigv4} CASES.json
#
# Performs each case through the proxy in HTTPS_PROXY, trusting the CA bundle in
# MX_CA_BUNDLE, against MX_ENDPOINT, with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Every
# request carries the case id in the header x-mx-case. Prints {"version": ...} first, then one
# JSON line per case: {id, status, error, canonical} (canonical: the signer's own canonical
# request, which Aws::Sigv4::Signature carries).
require 'json'
require 'net/http'
require 'openssl'
require 'uri'

ENDPOINT = ENV.fetch('MX_ENDPOINT')
PROXY = URI(ENV.fetch('HTTPS_PROXY'))
CA = ENV.fetch('MX_CA_BUNDLE')
AKID = ENV.fetch('AWS_ACCESS_KEY_ID')
SECRET = ENV.fetch('AWS_SECRET_ACCESS_KEY')
EP = URI(ENDPOINT)

# One request through the proxy; the target is sent exactly as given.
def send_raw(method, target, headers, body)
  http = Net::HTTP.new(EP.host, EP.port, PROXY.host, PROXY.port)
  http.use_ssl = true
  http.ca_file = CA
  http.verify_mode = OpenSSL::SSL::VERIFY_PEER
  http.open_timeout = 30
  http.read_timeout = 30
  req = Net::HTTPGenericRequest.new(method, !body.nil? && !body.empty?, true, target, headers)
  req.body = body if body && !body.empty?
  http.start { |h| h.request(req).code.to_i }
end

def sdk_driver
  require 'aws-sdk-s3'
  require 'aws-sdk-core'
  current = { id: '' }
  common = lambda do |region|
    {
      region: region,
      endpoint: ENDPOINT,
      credentials: Aws::Credentials.new(AKID, SECRET),
      http_proxy: PROXY.to_s,
      ssl_ca_bundle: CA,
      retry_limit: 0
    }
  end
  tag = lambda do |client|
    client.handle(step: :build) do |context|
      context.http_request.headers['x-mx-case'] = current[:id]
      @handler.call(context)
    end
    client
  end
  s3s = {}
  stss = {}
  run = lambda do |c|
    current[:id] = c['id']
    op = c['op']
    s3 = (s3s[c['region']] ||= tag.call(Aws::S3::Client.new(**common.call(c['region']), force_path_style: true)))
    case op['name']
    when 'put_object'
      s3.put_object(bucket: op['bucket'], key: op['key'], body: op['body']).context.http_response.status_code
    when 'get_object'
      s3.get_object(bucket: op['bucket'], key: op['key']).context.http_response.status_code
    when 'list_objects_v2'
      s3.list_objects_v2(bucket: op['bucket'], prefix: op['prefix']).context.http_response.status_code
    when 'get_caller_identity'
      sts = (stss[c['region']] ||= tag.call(Aws::STS::Client.new(**common.call(c['region']))))
      sts.get_caller_identity.context.http_response.status_code
    when 'presign_get'
      url = Aws::S3::Presigner.new(client: s3).presigned_url(:get_object, bucket: op['bucket'], key: op['key'], expires_in: 300)
      u = URI(url)
      send_raw('GET', "#{u.path}?#{u.query}", { 'x-mx-case' => c['id'] }, nil)
    else
      raise "unknown op #{op['name']}"
    end
  end
  ["aws-sdk-s3 #{Aws::S3::GEM_VERSION} aws-sdk-core #{Aws::CORE_GEM_VERSION} aws-sigv4 #{Aws::Sigv4::VERSION}", run]
end

def sigv4_driver
  require 'aws-sigv4'
  run = lambda do |c|
    # The S3 client passes URLs it has already escaped with uri_escape_path: false; every
    # other service's client lets the signer escape the path once more.
    signer = Aws::Sigv4::Signer.new(
      service: c['service'], region: c['region'],
      access_key_id: AKID, secret_access_key: SECRET,
      uri_escape_path: c['service'] != 's3',
      apply_checksum_header: true
    )
    target = c['path'] + (c['query'].to_s.empty? ? '' : "?#{c['query']}")
    headers = (c['headers'] || {}).merge('x-mx-case' => c['id'])
    if c['presign']
      url = signer.presign_url(http_method: c['method'], url: ENDPOINT + target, expires_in: 300,
                               body_digest: 'UNSIGNED-PAYLOAD')
      $canonical = nil
      return send_raw(c['method'], "#{url.path}?#{url.query}", headers, c['body'])
    end
    sig = signer.sign_request(http_method: c['method'], url: ENDPOINT + target,
                              headers: headers, body: c['body'] || '')
    $canonical = sig.canonical_request
    send_raw(c['method'], target, headers.merge(sig.headers), c['body'])
  end
  ["aws-sigv4 #{Aws::Sigv4::VERSION}", run]
end

signer, cases_file = ARGV
drivers = { 'aws-sdk-s3' => method(:sdk_driver), 'aws-sigv4' => method(:sigv4_driver) }
unless drivers.key?(signer) && cases_file
  warn "usage: ruby ruby_signers.rb {#{drivers.keys.join('|')}} CASES.json"
  exit 2
end
cases = JSON.parse(File.read(cases_file))
version, run = drivers[signer].call
puts JSON.generate(version: version)
$stdout.flush
cases.each do |c|
  $canonical = nil
  status = nil
  error = nil
  begin
    status = run.call(c)
  rescue StandardError => e
    error = "#{e.class}: #{e.message}"[0, 400]
    status = e.context.http_response.status_code if e.respond_to?(:context) && e.context
  end
  puts JSON.generate(id: c['id'], status: status, error: error, canonical: $canonical)
  $stdout.flush
end
