/**
 * The architecture rule's pure half: which architecture a Batch instance type or an ECS
 * EcsCpuArchitecture means, and the engine arguments for a registry on loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ecsArch, instanceArch, platformFor } from '../../../src/aws/imagearch.js';
import { registryArgs } from '../../../src/aws/images.js';

test('Graviton instance types are arm64, every other type and optimal amd64', () => {
  for (const t of ['m7g', 'c7g.large', 'r6gd.xlarge', 'c6gn.16xlarge', 't4g.micro', 'a1.large', 'M7G.2XLARGE', 'r8g'])
    assert.equal(instanceArch(t), 'arm64', t);
  for (const t of ['optimal', 'm5', 'c5.large', 'm7i.xlarge', 'g5.xlarge', 'g4dn.xlarge', 'r7a', 'p4d.24xlarge', 'm5d'])
    assert.equal(instanceArch(t), 'amd64', t);
});

test('ECS CPU architectures and the platform that builds for each', () => {
  assert.equal(ecsArch('ARM64'), 'arm64');
  assert.equal(ecsArch('X86_64'), 'amd64');
  assert.equal(platformFor('arm64'), 'linux/arm64');
  assert.equal(platformFor('amd64'), 'linux/amd64');
});

test('podman is told to use plain HTTP for a registry on loopback only; Docker allows it by itself', () => {
  for (const h of ['127.0.0.1:4566', 'localhost:5000', '127.1.2.3', '[::1]:5000']) assert.deepEqual(registryArgs('podman', h), ['--tls-verify=false'], h);
  for (const h of ['123456789012.dkr.ecr.us-east-1.amazonaws.com', '10.0.0.1:5000', 'localhost.example.com'])
    assert.deepEqual(registryArgs('podman', h), [], h);
  assert.deepEqual(registryArgs('docker', '127.0.0.1:4566'), []);
});
