/**
 * ConsulAccess: the Consul side of the singleton: a least-privilege ACL policy, the way the pod
 * gets a token with it (a static token whose secret the workload's Secret holds, or a role bound
 * to the pod's ServiceAccount through a Kubernetes auth method it logs in with), and the
 * service's KV configuration.
 */
import * as pulumi from "@pulumi/pulumi";
import * as consul from "@pulumi/consul";
import * as random from "@pulumi/random";
import { aclRulesJson, assertLockAclPrefixes, authMethodNameProblem, lockAclRules, loginSelector } from "./consulAcl";
import { kvPrefixProblem } from "./consulKv";

export interface ConsulAccessArgs {
  /** Base name, used in descriptions and the default policy name. */
  name: string;
  /**
   * ACL policy name. Default `<name>-lock`. Policies are global across WAN-federated datacenters,
   * so stacks that share a federation need distinct names (the program adds the stack's name).
   */
  policyName?: string;
  /** Lock prefix `consul lock` uses; granted write below it. */
  lockPrefix: string;
  /** Configuration prefix; granted read, and where `config` is written. */
  configPrefix: string;
  /** Node-name prefix of the Consul servers the pod's sessions are created on (consulAcl.ts). */
  sessionNodePrefix: string;
  /** Configuration keys (relative to `configPrefix`) and values. Default: none. */
  config?: Record<string, string>;
  /**
   * Bind the policy to the pod's ServiceAccount through this Kubernetes auth method instead of
   * declaring a static token: a role with the policy, and a binding rule that gives it to logins
   * of that ServiceAccount only. Default: none (a static token).
   */
  login?: ConsulLoginArgs;
  /** Datacenters the policy is valid in. Default: all. */
  datacenters?: string[];
  /** The Consul provider every resource and lookup uses (explicit, never the ambient default). */
  provider: consul.Provider;
}

/** Who may log in, and where. */
export interface ConsulLoginArgs {
  /** A Consul auth method of type kubernetes for the pod's cluster, provided by the platform. */
  authMethod: string;
  /** The pod's ServiceAccount. */
  namespace: string;
  serviceAccount: string;
}

/** Checks everything before any resource exists: prefixes, the auth method, and each configuration key. */
function validate(args: ConsulAccessArgs): void {
  assertLockAclPrefixes(args);
  const methodProblem = args.login && authMethodNameProblem(args.login.authMethod);
  if (methodProblem) throw new Error(`login.authMethod: ${JSON.stringify(args.login?.authMethod)} ${methodProblem}`);
  for (const key of Object.keys(args.config ?? {})) {
    const problem = kvPrefixProblem(key);
    if (problem) throw new Error(`config key ${JSON.stringify(key)}: ${problem}`);
  }
}

/** The token's scope; each field is ForceNew upstream, so each is a keeper of the accessor UUID too. */
export const TOKEN_SCOPE = { local: true } as const;

export class ConsulAccess extends pulumi.ComponentResource {
  readonly policyName: pulumi.Output<string>;
  /** The static token, unless the pod logs in. */
  readonly token?: StaticToken;
  /** The role logins get and the binding rule that gives it, when the pod logs in. */
  readonly login?: LoginBinding;
  /** Full paths of the KV keys this stack manages. */
  readonly configKeys: string[];

  constructor(resourceName: string, args: ConsulAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    validate(args);
    // Renaming: pass `aliases: [{ name: "<old name>" }]` in `opts`. Every child's name starts with
    // `resourceName`, so the engine aliases each child to its old URN too (step_generator.go,
    // inheritedChildAlias); without that a rename would create the new Keys and then delete the
    // old ones, and with `delete: true` that delete removes the very paths just written.
    super("mogi:components:ConsulAccess", resourceName, {}, opts);
    const consulOpts = { parent: this, provider: args.provider };

    const policy = new consul.AclPolicy(
      `${resourceName}-lock-policy`,
      {
        name: args.policyName ?? `${args.name}-lock`,
        description: `${args.name}: hold the lock under ${args.lockPrefix}, read configuration under ${args.configPrefix}`,
        rules: aclRulesJson(lockAclRules(args)),
        datacenters: args.datacenters,
      },
      consulOpts,
    );

    if (args.login) {
      this.login = loginBinding(resourceName, args, args.login, policy, consulOpts);
    } else {
      this.token = staticToken(resourceName, args, policy, consulOpts);
    }

    const entries = Object.entries(args.config ?? {}).sort(([a], [b]) => a.localeCompare(b));
    this.configKeys = entries.map(([key]) => `${args.configPrefix}/${key}`);
    if (entries.length > 0) {
      // Keys, not KeyPrefix: KeyPrefix owns its whole prefix and deletes what it does not manage,
      // which near the lock prefix would delete the lock key (FACTS.md, @pulumi/consul).
      new consul.Keys(
        `${resourceName}-config`,
        // delete: a key removed from the stack is removed from Consul too, so KV matches the stack.
        { keys: entries.map(([key, value]) => ({ path: `${args.configPrefix}/${key}`, value, delete: true })) },
        consulOpts,
      );
    }

    this.policyName = policy.name;
    this.registerOutputs({
      policyName: this.policyName,
      configKeys: this.configKeys,
      ...(this.token ? { tokenAccessorId: this.token.accessorId } : {}),
      ...(this.login ? { loginRole: this.login.roleName, loginBindingRuleId: this.login.bindingRuleId } : {}),
    });
  }
}

export interface StaticToken {
  /** The token's accessor ID: public, stable, known before apply (`pulumi import` can use it). */
  accessorId: pulumi.Output<string>;
  /** The token's secret ID, always a Pulumi secret. */
  secretId: pulumi.Output<string>;
}

type ConsulOpts = pulumi.CustomResourceOptions & { parent: pulumi.Resource; provider: consul.Provider };

/** A local token with the policy, and its secret ID read back as a Pulumi secret. */
function staticToken(resourceName: string, args: ConsulAccessArgs, policy: consul.AclPolicy, consulOpts: ConsulOpts): StaticToken {
  // A random UUID as accessor: stable across updates, known before apply, and importable.
  //
  // Replacement. Pulumi replaces create-before-delete, and Consul refuses a second token with an
  // accessor ID in use, so a replacement that kept the accessor would fail at its create. In
  // terraform-provider-consul (`resource_consul_acl_token.go`) the ForceNew inputs are
  // accessor_id, local, expiration_time, namespace and partition. The token declares `accessorId`
  // and `local`; `local` is also a keeper of this UUID, so whatever replaces the token replaces
  // the UUID first and the new token has a new accessor: the new token and its auto-named Secret
  // exist before the pod rolls, the old token is deleted after the rollout, and Mogi stops only
  // for the Recreate rollout (a test holds this). Not deleteBeforeReplace: it would delete the
  // running pod's token first, so `consul lock` could neither renew its session nor release the
  // lock (403), the wrapper would stop Mogi, and the new pod would wait for the session's TTL and
  // the lock-delay. Rotation replaces this UUID (components/README.md, "Rotating the token").
  const scope = TOKEN_SCOPE;
  const accessor = new random.RandomUuid(`${resourceName}-token-accessor`, { keepers: { local: String(scope.local) } }, { parent: consulOpts.parent });
  const token = new consul.AclToken(
    `${resourceName}-token`,
    // Local: the token lives only in the datacenter the provider writes to (mogi:consul.datacenter,
    // else its agent's), where the pod's Consul is; it is not replicated to, nor valid in, any
    // other federated datacenter. No expirationTime: components/README.md says why.
    { accessorId: accessor.result, description: `${args.name}: consul lock and configuration`, policies: [policy.name], local: scope.local },
    consulOpts,
  );
  // AclToken has no secretId output; the lookup's secretId is a secret output (FACTS.md).
  const secretId = consul.getAclTokenSecretIdOutput({ accessorId: token.accessorId }, consulOpts).secretId;
  return { accessorId: token.accessorId, secretId: pulumi.secret(secretId) };
}

export interface LoginBinding {
  /** The auth method the pod logs in with. */
  authMethod: string;
  roleName: pulumi.Output<string>;
  bindingRuleId: pulumi.Output<string>;
}

/**
 * A role with the policy, and a binding rule of the platform's auth method that gives it to the
 * pod's ServiceAccount alone. A login token carries the role as long as the rule matches; Consul
 * makes it local to the datacenter unless the auth method says `TokenLocality: global`
 * (agent/consul/acl_endpoint.go `Login`), and deletes it on `consul logout`.
 */
function loginBinding(resourceName: string, args: ConsulAccessArgs, login: ConsulLoginArgs, policy: consul.AclPolicy, consulOpts: ConsulOpts): LoginBinding {
  const role = new consul.AclRole(
    `${resourceName}-lock-role`,
    // Named like the policy: roles are global across WAN-federated datacenters too.
    { name: policy.name, description: `${args.name}: the lock and configuration policy, for logins of ${login.namespace}/${login.serviceAccount}`, policies: [policy.name] },
    consulOpts,
  );
  const rule = new consul.AclBindingRule(
    `${resourceName}-login`,
    {
      authMethod: login.authMethod,
      description: `${args.name}: logins of the ServiceAccount ${login.namespace}/${login.serviceAccount} get the lock role`,
      selector: loginSelector(login.namespace, login.serviceAccount),
      bindType: "role",
      bindName: role.name,
    },
    consulOpts,
  );
  return { authMethod: login.authMethod, roleName: role.name, bindingRuleId: rule.id };
}
