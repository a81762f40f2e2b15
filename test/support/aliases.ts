/**
 * What a rename with `aliases` on a component means for its children. Under the mocks the engine's
 * alias computation does not run (the mock monitor declares alias specs supported, so the SDK sends
 * only each resource's own aliases); the SDK's `allAliases` is the same rule as the engine's
 * `inheritedChildAlias` (pulumi/pulumi step_generator.go) and is applied here to what was declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { allAliases } from "@pulumi/pulumi/resource";
import { record } from "./recording";

const resolve = <T>(value: pulumi.Input<T>): Promise<T> => new Promise((done) => pulumi.output(value).apply((v) => done(v as T)));

/**
 * Runs `declare` and returns, for each direct child of the component of type `componentType`, its
 * URN and the URNs the engine would alias it to.
 */
export async function childAliases(componentType: string, declare: () => void): Promise<{ urn: string; aliases: string[] }[]> {
  const children: { resource: pulumi.Resource; name: string; type: string; parent: pulumi.Resource }[] = [];
  const found: Promise<{ urn: string; aliases: string[] }>[] = [];
  await record(() => {
    pulumi.runtime.registerStackTransformation((args) => {
      const parent = args.opts.parent as (pulumi.Resource & { __pulumiType?: string }) | undefined;
      if (parent?.__pulumiType === componentType) children.push({ resource: args.resource, name: args.name, type: args.type, parent });
      return undefined;
    });
    declare();
    for (const { resource, name, type, parent } of children) {
      const parentName = (parent as unknown as { __name: string }).__name;
      found.push(
        (async () => ({
          urn: await resolve(resource.urn),
          aliases: await Promise.all(allAliases([], name, type, parent, parentName).map((alias) => resolve(alias))),
        }))(),
      );
    }
  });
  return Promise.all(found);
}
