/**
 * Lepton Lab in JupyterLab 4 and Notebook 7: a sidebar of datasets, models, templates and
 * jobs; a tab for each; "Run as job…" and "Publish as template…" on notebooks (file
 * browser context menu, notebook toolbar); a Jobs panel; launcher items; palette commands;
 * settings. Everything talks to the REST API at `{base_url}lepton/api/v1/`.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  Notification,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import iconSvg from '../style/icon.svg';
import { LeptonApi } from './api';
import { DatasetView, INSERT } from './datasetView';
import { Context, errorText } from './dom';
import { JobsPanel } from './jobsPanel';
import { markdownRenderer } from './markdown';
import { JobView, OPEN_OUTPUT } from './jobView';
import { datasetLoadLine, outputPath } from './logic';
import { ModelView } from './modelView';
import { RunNotebookView } from './runNotebookView';
import { OPEN, REFRESH, Sidebar } from './sidebar';
import { TemplateView } from './templateView';
import { tab, View } from './view';

const PLUGIN_ID = 'lepton-lab:plugin';
/** The command that reopens a restored tab. */
const REOPEN = 'lepton-lab:reopen';

/** The extension's icon (themed through `jp-icon3`). */
export const leptonIcon = new LabIcon({ name: 'lepton-lab:icon', svgstr: iconSvg });

/** Every command, by id. */
export const CommandIDs = {
  ...Object.fromEntries(Object.entries(OPEN).map(([k, v]) => [k, v.command])),
  showSidebar: 'lepton-lab:show-sidebar',
  refresh: REFRESH,
  openJobs: 'lepton-lab:open-jobs',
  runAsJob: 'lepton-lab:run-as-job',
  publishTemplate: 'lepton-lab:publish-template',
  insert: INSERT,
  insertDataset: 'lepton-lab:insert-dataset',
  openOutput: OPEN_OUTPUT,
  cancelJob: 'lepton-lab:cancel-job',
  rerunJob: 'lepton-lab:rerun-job',
  promote: 'lepton-lab:promote'
} as const;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Lepton Lab: datasets, models, templates and jobs in JupyterLab.',
  autoStart: true,
  optional: [
    ILabShell,
    ITranslator,
    ILayoutRestorer,
    ICommandPalette,
    ILauncher,
    ISettingRegistry,
    IFileBrowserFactory,
    INotebookTracker,
    IRenderMimeRegistry
  ],
  activate
};

function activate(
  app: JupyterFrontEnd,
  labShell: ILabShell | null,
  translator: ITranslator | null,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  launcher: ILauncher | null,
  settingRegistry: ISettingRegistry | null,
  browserFactory: IFileBrowserFactory | null,
  notebooks: INotebookTracker | null,
  rendermime: IRenderMimeRegistry | null
): void {
  const trans = (translator ?? nullTranslator).load('lepton-lab');
  const { commands, serviceManager } = app;
  const serverSettings = ServerConnection.makeSettings();
  // `no-cache`, not JupyterLab's default `no-store`, which adds a `?<timestamp>` query
  // argument that the API refuses as an unknown field.
  const api = new LeptonApi(serverSettings.baseUrl, (url, init) =>
    ServerConnection.makeRequest(url, { cache: 'no-cache', ...init }, serverSettings)
  );
  const settings = { pollInterval: 2, outputFolder: 'lepton-jobs' };
  const ctx: Context = {
    api,
    trans,
    commands,
    pollInterval: () => settings.pollInterval * 1000,
    markdown: markdownRenderer(rendermime)
  };
  if (settingRegistry) {
    void settingRegistry.load(PLUGIN_ID).then(loaded => {
      const read = () => {
        settings.pollInterval = loaded.get('pollInterval').composite as number;
        settings.outputFolder = loaded.get('outputFolder').composite as string;
      };
      read();
      loaded.changed.connect(read);
    });
  }

  const sidebar = new Sidebar(ctx);
  sidebar.title.icon = leptonIcon;
  app.shell.add(sidebar, 'left', { rank: 850 });
  restorer?.add(sidebar, sidebar.id);

  /** Opens (or brings forward) the tab `id` made by `make`: in JupyterLab a main-area
   * tab; in Notebook 7, whose pages hold one document, the right side panel. */
  const tabs = new Map<string, Widget>();
  // The open tabs, restored at the next page load by the command (and arguments) that
  // opened each.
  const tracker = new WidgetTracker<Widget>({ namespace: 'lepton-lab' });
  void restorer?.restore(tracker, {
    command: REOPEN,
    args: widget => JSON.parse(widget.node.dataset.reopen ?? '{}'),
    name: widget => widget.id
  });
  commands.addCommand(REOPEN, {
    label: trans.__('Reopen a Lepton Lab Tab'),
    execute: args => commands.execute(args.command as string, (args.args ?? {}) as any)
  });
  const show = (
    id: string,
    label: string,
    make: () => View,
    [command, args]: [string, object]
  ) => {
    let widget = tabs.get(id);
    if (!widget || widget.isDisposed) {
      if (labShell) {
        widget = tab(make(), id, label, leptonIcon);
        widget.node.dataset.reopen = JSON.stringify({ command, args });
        app.shell.add(widget, 'main');
        void tracker.add(widget);
      } else {
        widget = make();
        widget.id = id;
        widget.title.label = label;
        widget.title.caption = label;
        widget.title.icon = leptonIcon;
        widget.title.closable = true;
        app.shell.add(widget, 'right', { rank: 900 });
      }
      tabs.set(id, widget);
    }
    app.shell.activateById(widget.id);
    return widget;
  };
  const domId = (kind: string, key: string) =>
    `lepton-lab-${kind}-${key.replace(/[^\w-]/g, '-')}`;
  /** Runs `action`, telling the user if it failed. */
  const report = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      Notification.error(errorText(error));
    }
  };
  /** The argument `name` of a command, or asked for. */
  const argOrAsk = async (args: any, name: string, title: string) =>
    (args[name] as string | undefined) ??
    ((await InputDialog.getText({ title, label: title })).value || undefined);

  commands.addCommand(OPEN.datasets.command, {
    label: args =>
      args.ref
        ? trans.__('Open Dataset %1', args.ref as string)
        : trans.__('Open Dataset…'),
    caption: trans.__('Open a dataset: card, versions, profile, preview, load line'),
    execute: async args => {
      const asked = await argOrAsk(args, 'ref', trans.__('Dataset (team/name)'));
      if (asked) {
        // `team/name@N` (or a `version` argument, as lineage links give) opens that version.
        const [ref, pinned] = asked.split('@');
        const version = Number(args.version ?? pinned) || undefined;
        const key = version ? `${ref}@${version}` : ref;
        show(domId('dataset', key), key, () => new DatasetView(ctx, ref, version), [
          OPEN.datasets.command,
          { ref: key }
        ]);
      }
    }
  });
  commands.addCommand(OPEN.models.command, {
    label: args =>
      args.ref
        ? trans.__('Open Model %1', args.ref as string)
        : trans.__('Open Model…'),
    caption: trans.__('Open a model: card, versions, metrics, lineage, promote'),
    execute: async args => {
      const ref = await argOrAsk(args, 'ref', trans.__('Model (team/name)'));
      if (ref) {
        show(domId('model', ref), ref, () => new ModelView(ctx, ref), [
          OPEN.models.command,
          { ref }
        ]);
      }
    }
  });
  commands.addCommand(OPEN.templates.command, {
    label: args =>
      args.name
        ? trans.__('Open Template %1', args.name as string)
        : trans.__('Open Template…'),
    caption: trans.__('Open a template: its parameter form and Run'),
    execute: async args => {
      const name = await argOrAsk(args, 'name', trans.__('Template name'));
      if (name) {
        show(domId('template', name), name, () => new TemplateView(ctx, name), [
          OPEN.templates.command,
          { name }
        ]);
      }
    }
  });
  commands.addCommand(OPEN.jobs.command, {
    label: args =>
      args.id ? trans.__('Open Job %1', args.id as string) : trans.__('Open Job…'),
    caption: trans.__('Open a job: status, logs, values, output notebook'),
    execute: async args => {
      const id = await argOrAsk(args, 'id', trans.__('Job id'));
      if (id) {
        show(
          domId('job', id),
          trans.__('Job %1', id.slice(0, 8)),
          () => new JobView(ctx, id),
          [OPEN.jobs.command, { id }]
        );
      }
    }
  });
  commands.addCommand(CommandIDs.cancelJob, {
    label: trans.__('Cancel Job…'),
    execute: async args => {
      const id = await argOrAsk(args, 'id', trans.__('Job id'));
      if (id) {
        await report(async () => {
          const job = await api.cancel(id);
          Notification.info(trans.__('Job %1: %2', id, job.status));
        });
      }
    }
  });
  commands.addCommand(CommandIDs.rerunJob, {
    label: trans.__('Rerun Job…'),
    caption: trans.__('Queue a job’s manifest again and compare what it records'),
    execute: async args => {
      const id = await argOrAsk(args, 'id', trans.__('Job id'));
      if (id) {
        await report(async () => {
          const rerun = await api.rerun(id);
          await commands.execute(OPEN.jobs.command, { id: rerun.id });
        });
      }
    }
  });
  commands.addCommand(CommandIDs.promote, {
    label: trans.__('Promote Model Version…'),
    execute: async args => {
      const ref = await argOrAsk(args, 'ref', trans.__('Model version (team/name@N)'));
      const match = ref ? /^(.+)@(\d+)$/.exec(ref) : null;
      if (!match) {
        return;
      }
      const alias = await InputDialog.getItem({
        title: trans.__('Promote %1 to', ref!),
        items: ['production', 'staging']
      });
      if (alias.button.accept && alias.value) {
        await report(async () => {
          await api.promote(match[1], alias.value!, Number(match[2]));
          Notification.success(trans.__('%1 is now %2', ref!, alias.value!));
        });
      }
    }
  });
  commands.addCommand(CommandIDs.insertDataset, {
    label: trans.__('Insert Dataset Load Line…'),
    execute: async args => {
      const ref = await argOrAsk(
        args,
        'ref',
        trans.__('Dataset version (team/name@N)')
      );
      if (ref) {
        await commands.execute(INSERT, { code: datasetLoadLine(ref) });
      }
    }
  });
  commands.addCommand(CommandIDs.openJobs, {
    label: trans.__('Jobs Panel'),
    caption: trans.__('Your jobs and your teams’, live'),
    icon: args => (args.isLauncher ? leptonIcon : undefined),
    execute: () =>
      show('lepton-lab-jobs', trans.__('Jobs'), () => new JobsPanel(ctx), [
        CommandIDs.openJobs,
        {}
      ])
  });
  commands.addCommand(CommandIDs.showSidebar, {
    label: trans.__('Lepton Lab Sidebar'),
    caption: trans.__('Datasets, models, templates and jobs'),
    icon: args => (args.isLauncher ? leptonIcon : undefined),
    execute: () => app.shell.activateById(sidebar.id)
  });
  commands.addCommand(CommandIDs.refresh, {
    label: trans.__('Refresh Lepton Lab Sidebar'),
    execute: () => sidebar.refresh()
  });

  /** The notebook a command is about: its `path` argument, the file browser's selection
   * (from the context menu) or the current notebook. */
  const notebookPath = async (args: any): Promise<string | null> => {
    if (args.path) {
      return args.path as string;
    }
    if (args.fromBrowser && browserFactory?.tracker.currentWidget) {
      const item = browserFactory.tracker.currentWidget.selectedItems().next();
      if (!item.done && item.value.path.endsWith('.ipynb')) {
        return item.value.path;
      }
    }
    const panel = notebooks?.currentWidget;
    if (panel) {
      if (panel.context.model.dirty) {
        await panel.context.save();
      }
      return panel.context.path;
    }
    return null;
  };

  commands.addCommand(CommandIDs.runAsJob, {
    label: trans.__('Run as Job…'),
    caption: trans.__('Run this notebook as a Lepton Lab job on a fresh kernel'),
    icon: args => (args.isLauncher || args.fromBrowser ? leptonIcon : undefined),
    execute: async args => {
      const path = await notebookPath(args);
      if (!path) {
        Notification.warning(trans.__('Open or select a notebook to run as a job.'));
        return;
      }
      show(
        domId('run', path),
        trans.__('Run %1', path.split('/').pop()!),
        () => new RunNotebookView(ctx, path, serviceManager.contents),
        [CommandIDs.runAsJob, { path }]
      );
    }
  });

  commands.addCommand(CommandIDs.publishTemplate, {
    label: trans.__('Publish as Template…'),
    caption: trans.__('Publish this notebook in the template gallery'),
    execute: async args => {
      const path = await notebookPath(args);
      if (!path) {
        Notification.warning(trans.__('Open or select a notebook to publish.'));
        return;
      }
      try {
        const me = await api.whoami();
        const stem = path
          .split('/')
          .pop()!
          .replace(/\.ipynb$/, '')
          .toLowerCase()
          .replace(/[^a-z0-9_-]+/g, '-');
        const team = Object.keys(me.teams)[0] ?? 'team';
        const answer = await InputDialog.getText({
          title: trans.__('Publish as template'),
          label: trans.__('Name (team/name)'),
          text: `${team}/${stem}`
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        const model = await serviceManager.contents.get(path, {
          content: true,
          type: 'file',
          format: 'text'
        });
        const template = await api.publish({
          name: answer.value,
          notebook: model.content as string
        });
        Notification.success(
          trans.__('Published %1@%2', answer.value, template.version)
        );
        await commands.execute(OPEN.templates.command, { name: answer.value });
        void sidebar.refresh();
      } catch (error) {
        Notification.error(trans.__('Could not publish: %1', errorText(error)));
      }
    }
  });

  commands.addCommand(INSERT, {
    label: trans.__('Insert Code into Notebook'),
    execute: async args => {
      const code = args.code as string;
      let panel: NotebookPanel | null = notebooks?.currentWidget ?? null;
      if (!panel) {
        panel = (await commands.execute('notebook:create-new', {
          kernelName: 'python3'
        })) as NotebookPanel;
        await panel.context.ready;
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      notebook.activeCell?.model.sharedModel.setSource(code);
      app.shell.activateById(panel.id);
    }
  });

  commands.addCommand(OPEN_OUTPUT, {
    label: trans.__('Open Output Notebook'),
    execute: async args => {
      const id = args.id as string;
      try {
        const job = await api.job(id);
        const text = await api.notebook(id);
        const path = outputPath(job, settings.outputFolder);
        const folder = path.split('/').slice(0, -1).join('/');
        try {
          await serviceManager.contents.get(folder, { content: false });
        } catch {
          await serviceManager.contents.save(folder, { type: 'directory' });
        }
        await serviceManager.contents.save(path, {
          type: 'notebook',
          format: 'json',
          content: JSON.parse(text)
        });
        await commands.execute('docmanager:open', { path });
      } catch (error) {
        Notification.error(
          trans.__('Could not open the output notebook: %1', errorText(error))
        );
      }
    }
  });

  // "Run as job…" and "Publish as template…" beside it, on notebooks in the file browser.
  const notebookItem = '.jp-DirListing-item[data-file-type="notebook"]';
  app.contextMenu.addItem({
    command: CommandIDs.runAsJob,
    args: { fromBrowser: true },
    selector: notebookItem,
    rank: 3
  });
  app.contextMenu.addItem({
    command: CommandIDs.publishTemplate,
    args: { fromBrowser: true },
    selector: notebookItem,
    rank: 3
  });

  // …and in every notebook's toolbar.
  notebooks?.widgetAdded.connect((_, panel) => {
    const button = new ToolbarButton({
      label: trans.__('Run as job…'),
      tooltip: trans.__('Run this notebook as a Lepton Lab job'),
      icon: leptonIcon,
      onClick: () =>
        void commands.execute(CommandIDs.runAsJob, { path: panel.context.path })
    });
    button.addClass('jp-LeptonLab-runAsJob');
    panel.toolbar.insertAfter('cellType', 'leptonRunAsJob', button);
  });

  const category = trans.__('Lepton Lab');
  for (const command of [
    OPEN.datasets.command,
    OPEN.models.command,
    OPEN.templates.command,
    OPEN.jobs.command,
    CommandIDs.openJobs,
    CommandIDs.showSidebar,
    CommandIDs.refresh,
    CommandIDs.runAsJob,
    CommandIDs.publishTemplate,
    CommandIDs.cancelJob,
    CommandIDs.rerunJob,
    CommandIDs.promote,
    CommandIDs.insertDataset
  ]) {
    palette?.addItem({ command, category });
  }
  launcher?.add({ command: CommandIDs.openJobs, category, rank: 1 });
  launcher?.add({ command: CommandIDs.showSidebar, category, rank: 2 });
}

export default plugin;
