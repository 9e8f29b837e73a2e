/**
 * The resource-provider side of Pulumi's plugin protocol (pulumirpc.ResourceProvider, the proto stubs
 * @pulumi/pulumi 3.248.0 ships), for the stand-in providers `npm run test:deploy` gives the real engine
 * where the real provider plugins cannot be built here (the Go module proxy refuses pulumi-docker,
 * pulumi-random and pulumi-tls). Each stand-in declares, per resource type, the input properties the
 * real resource accepts (from its npm SDK's Args type), which of them replace the resource when they
 * change, and its create/update/delete; anything else it is sent is refused, so a program that only
 * works because a stand-in is lenient fails here.
 *
 * Configure answers acceptSecrets=false: the engine then sends plain values and marks outputs secret
 * again from the inputs and the SDKs' additionalSecretOutputs, as it does for any provider. Plugins
 * are started by the engine with the engine's address as their argument and print their port first.
 */
import * as grpc from "@grpc/grpc-js";
import { sdkInputs, sdkVersion } from "./sdkInputs";
/* eslint-disable @typescript-eslint/no-require-imports -- the SDK's generated gRPC stubs are CommonJS without types */
const provproto = require("@pulumi/pulumi/proto/provider_pb");
const provrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const plugproto = require("@pulumi/pulumi/proto/plugin_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

/** What the engine sends in place of a value not known yet (during a preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Properties = Record<string, any>;

export interface StandInResource {
  /** Input properties the real resource accepts (its SDK's Args), camelCase as the SDK sends them. */
  inputs: readonly string[];
  /** Inputs whose change replaces the resource (the real schema's ForceNew); "all" for every one. */
  replaceOnChange: readonly string[] | "all";
  /** Defaults the real provider's Check fills in for inputs left unset. */
  defaults?: Properties;
  /** Problems with the inputs the real provider reports at Check (property, reason). */
  check?: (inputs: Properties) => { property: string; reason: string }[];
  create(inputs: Properties, context: ProviderContext): Promise<{ id: string; outs: Properties }>;
  /** In-place update of inputs that do not replace it; absent: every change replaces. */
  update?(id: string, olds: Properties, news: Properties, context: ProviderContext): Promise<Properties>;
  delete(id: string, props: Properties, context: ProviderContext): Promise<void>;
  /** What the real provider reads back on refresh; absent: the state as it is. */
  read?(id: string, props: Properties, context: ProviderContext): Promise<Properties | undefined>;
}

export interface ProviderContext {
  /** The provider's configuration (the explicit provider resource's inputs), plain. */
  config: Properties;
}

export interface StandInProvider {
  name: string;
  /** The version the npm SDK asks for (its package.json's pulumi.version). */
  version: string;
  /** Provider configuration keys the real provider accepts. */
  configKeys: readonly string[];
  resources: Record<string, StandInResource>;
  invokes?: Record<string, (args: Properties, context: ProviderContext) => Promise<Properties>>;
}

const toJs = (struct: any): Properties => (struct ? (struct.toJavaScript() as Properties) : {});
const toStruct = (value: Properties) => structproto.Struct.fromJavaScript(value);

/** Whether any value (nested) is still unknown. */
export const hasUnknown = (value: unknown): boolean =>
  value === UNKNOWN || (typeof value === "object" && value !== null && Object.values(value).some(hasUnknown));

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

type Callback = (error: any, response?: any) => void;

/** Runs the stand-in provider as a plugin: serves the protocol and prints the port. */
export async function serve(provider: StandInProvider): Promise<void> {
  let config: Properties = {};
  const context = (): ProviderContext => ({ config });
  const resourceOf = (urn: string): [string, StandInResource] => {
    const type = urn.split("::")[2]?.split("$").pop() ?? "";
    const resource = provider.resources[type];
    if (!resource) throw new Error(`stand-in ${provider.name} provider: no resource type ${type}`);
    return [type, resource];
  };
  const handle =
    <T>(work: (request: any) => Promise<T> | T) =>
    (call: { request: any }, callback: Callback) => {
      Promise.resolve()
        .then(() => work(call.request))
        .then(
          (response) => callback(null, response),
          (error: Error) => callback({ code: grpc.status.UNKNOWN, details: error.message }),
        );
    };
  const unimplemented = (what: string) => (_call: unknown, callback: Callback) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: `${what} is not implemented by this stand-in` });

  const checkInputs = (type: string, resource: StandInResource, news: Properties) => {
    const failures = Object.keys(news)
      .filter((key) => key !== "__defaults" && !resource.inputs.includes(key))
      .map((key) => ({
        property: key,
        reason: `${type} has no input ${key} (the stand-in accepts what ${provider.name} ${provider.version}'s SDK declares)`,
      }));
    const inputs = { ...resource.defaults, ...news };
    delete inputs.__defaults;
    return { inputs, failures: [...failures, ...(hasUnknown(inputs) ? [] : (resource.check?.(inputs) ?? []))] };
  };

  const service = {
    getPluginInfo: handle(() => new plugproto.PluginInfo().setVersion(provider.version)),
    handshake: handle(() =>
      new provproto.ProviderHandshakeResponse()
        .setAcceptSecrets(false)
        .setAcceptResources(false)
        .setAcceptOutputs(false),
    ),
    attach: handle(() => new emptyproto.Empty()),
    cancel: handle(() => new emptyproto.Empty()),
    getSchema: handle(() => new provproto.GetSchemaResponse().setSchema("{}")),
    checkConfig: handle((request) => {
      const news = toJs(request.getNews());
      const unknownKeys = Object.keys(news).filter((k) => k !== "version" && !provider.configKeys.includes(k));
      const response = new provproto.CheckResponse().setInputs(toStruct(news));
      return response.setFailuresList(
        unknownKeys.map((key) =>
          new provproto.CheckFailure()
            .setProperty(key)
            .setReason(`the ${provider.name} provider has no setting ${key}`),
        ),
      );
    }),
    diffConfig: handle((request) => {
      const olds = toJs(request.getOldInputs() ?? request.getOlds());
      const news = toJs(request.getNews());
      const diffs = [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((k) => !same(olds[k], news[k]));
      return new provproto.DiffResponse()
        .setChanges(
          diffs.length ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE,
        )
        .setDiffsList(diffs);
    }),
    configure: handle((request) => {
      config = toJs(request.getArgs());
      return new provproto.ConfigureResponse()
        .setAcceptsecrets(false)
        .setSupportspreview(false)
        .setAcceptresources(false)
        .setAcceptoutputs(false);
    }),
    invoke: handle(async (request) => {
      const token = request.getTok();
      const invoke = provider.invokes?.[token];
      if (!invoke) throw new Error(`stand-in ${provider.name} provider: no function ${token}`);
      return new provproto.InvokeResponse().setReturn(toStruct(await invoke(toJs(request.getArgs()), context())));
    }),
    check: handle((request) => {
      const [type, resource] = resourceOf(request.getUrn());
      const { inputs, failures } = checkInputs(type, resource, toJs(request.getNews()));
      return new provproto.CheckResponse()
        .setInputs(toStruct(inputs))
        .setFailuresList(failures.map((f) => new provproto.CheckFailure().setProperty(f.property).setReason(f.reason)));
    }),
    diff: handle((request) => {
      const [, resource] = resourceOf(request.getUrn());
      const olds = toJs(request.getOldInputs() ?? request.getOlds());
      const news = toJs(request.getNews());
      const ignored: string[] = request.getIgnorechangesList();
      const diffs = resource.inputs.filter((k) => !ignored.includes(k) && !same(olds[k], news[k]));
      const replaces =
        resource.replaceOnChange === "all" || !resource.update
          ? diffs
          : diffs.filter((k) => (resource.replaceOnChange as readonly string[]).includes(k));
      return new provproto.DiffResponse()
        .setChanges(
          diffs.length ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE,
        )
        .setDiffsList(diffs)
        .setReplacesList(replaces)
        .setDeletebeforereplace(false);
    }),
    create: handle(async (request) => {
      const [, resource] = resourceOf(request.getUrn());
      // A provider that answers Handshake is asked to preview creates and updates too (the engine then
      // takes supportsPreview as given): the planned state is the inputs, nothing is done.
      if (request.getPreview()) return new provproto.CreateResponse().setId("").setProperties(request.getProperties());
      const { id, outs } = await resource.create(toJs(request.getProperties()), context());
      return new provproto.CreateResponse().setId(id).setProperties(toStruct(outs));
    }),
    read: handle(async (request) => {
      const [, resource] = resourceOf(request.getUrn());
      const props = toJs(request.getProperties());
      const read = resource.read ? await resource.read(request.getId(), props, context()) : props;
      const response = new provproto.ReadResponse();
      if (!read) return response; // gone
      return response.setId(request.getId()).setProperties(toStruct(read)).setInputs(request.getInputs());
    }),
    update: handle(async (request) => {
      const [type, resource] = resourceOf(request.getUrn());
      if (!resource.update) throw new Error(`${type} has no in-place update: every change replaces it`);
      if (request.getPreview()) return new provproto.UpdateResponse().setProperties(request.getNews());
      const outs = await resource.update(request.getId(), toJs(request.getOlds()), toJs(request.getNews()), context());
      return new provproto.UpdateResponse().setProperties(toStruct(outs));
    }),
    delete: handle(async (request) => {
      const [, resource] = resourceOf(request.getUrn());
      await resource.delete(request.getId(), toJs(request.getProperties()), context());
      return new emptyproto.Empty();
    }),
    parameterize: unimplemented("Parameterize"),
    call: unimplemented("Call"),
    construct: unimplemented("Construct"),
    list: unimplemented("List"),
    getMapping: unimplemented("GetMapping"),
    getMappings: unimplemented("GetMappings"),
  };

  const server = new grpc.Server();
  server.addService(provrpc.ResourceProviderService, service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  // The engine reads the port from the first line of the plugin's output.
  process.stdout.write(`${port}\n`);
}

/**
 * Serves `provider` as a plugin once it is shown to accept exactly what its npm SDK (`pkg`) declares:
 * the same version, and per resource (token → [declaration file, Args interface]) the same inputs.
 */
export function servePlugin(provider: StandInProvider, pkg: string, sdkArgs: Record<string, [string, string]>) {
  Promise.resolve()
    .then(() => {
      const version = sdkVersion(pkg);
      if (version !== provider.version) {
        throw new Error(`stand-in ${provider.name} implements ${pkg} ${provider.version}, node_modules has ${version}`);
      }
      for (const [token, [file, args]] of Object.entries(sdkArgs)) {
        const declared = sdkInputs(pkg, file, args).sort().join(", ");
        const implemented = [...provider.resources[token].inputs].sort().join(", ");
        if (declared !== implemented) {
          throw new Error(`stand-in ${token} accepts [${implemented}], ${pkg} ${version} declares [${declared}]`);
        }
      }
      return serve(provider);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
