# Print presigned POSTs made by the AWS SDK for Ruby (Aws::S3::PresignedPost, Debian
# package ruby-aws-sdk-s3) as JSON (see spec.json).
# Run: ruby tests/clients/postpolicy/ruby_post.rb
require 'json'
require 'aws-sdk-s3'

spec = JSON.parse(File.read(File.join(__dir__, 'spec.json')))

def make_case(spec, name, temporary, region)
  cred = spec['credentials'][temporary ? 'temporary' : 'permanent']
  credentials = Aws::Credentials.new(cred['access_key_id'], cred['secret'], cred['token'])
  post = Aws::S3::PresignedPost.new(
    credentials, region, spec['bucket'],
    key: spec['key'],
    content_type: spec['content_type'],
    content_length_range: spec['min_size']..spec['max_size'],
    success_action_status: spec['success_action_status'],
    metadata_starts_with: { 'tag' => '' },
    signature_expiration: Time.now + spec['expires']
  )
  fields = post.fields.to_a
  fields << ['x-amz-meta-tag', spec['meta_tag']]
  {
    'name' => name,
    'scheme' => fields.any? { |k, _| k.downcase == 'x-amz-signature' } ? 'sigv4' : 'sigv2',
    'temporary' => temporary,
    'access_key_id' => cred['access_key_id'],
    'region' => region,
    'bucket' => spec['bucket'],
    'url' => post.url,
    'fields' => fields
  }
end

cases = [
  make_case(spec, 'ruby', false, 'us-east-1'),
  make_case(spec, 'ruby-temporary', true, 'eu-west-1')
]
puts JSON.generate('sdk' => 'aws-sdk-ruby', 'version' => Aws::S3::GEM_VERSION, 'cases' => cases)
