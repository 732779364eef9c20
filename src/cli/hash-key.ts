// `pareto hash-key`: the form of an API key that goes into tenants.yaml.
import { Command } from 'commander';
import { hashKey } from '../tenancy/tenants.js';

export function hashKeyCommand(): Command {
  return new Command('hash-key')
    .description('Print the SHA-256 form of an API key for the keys list of tenants.yaml (the key itself is never stored)')
    .argument('<key>', 'the API key a tenant will send as Authorization: Bearer <key>')
    .action((key: string) => console.log(hashKey(key)));
}
