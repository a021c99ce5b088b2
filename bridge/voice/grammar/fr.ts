/**
 * French phrasings (folded: no accents, `l'` and `d'` split off, hyphens are spaces: `réveille-moi` is
 * `reveille moi`). Verbs are listed in the forms people say to an assistant: imperative (tu and vous), infinitive
 * after `tu peux`, and the common misspellings that folding makes equal (`eteins`, `éteint`).
 */
import { DEFAULT_VOLUME_STEP as STEP } from '../intents.ts'
import type { Grammar } from './types.ts'

const MEDIA_WORDS = ['musique', 'musiques', 'chanson', 'chansons', 'morceau', 'morceaux', 'piste', 'titre', 'lecture', 'son', 'playlist', 'zik', 'radio']
const QUERY = ['quoi', 'quel', 'quelle', 'quels', 'est', 'c', 'combien', 'donne', 'dis', 'moi', 'indique', 'verifie', 'regarde',
  'actuel', 'actuelle', 'actuellement', 'la', 'niveau', 'affiche', 'montre', 'connaitre', 'savoir', 'ai', 'je', 'a', 't']
const ON = '(allume|allumer|allumez|allumes|rallume|rallumer|demarre|demarrer|demarrez|mets en marche|mettre en marche|met en marche|mettez en marche)'
const OFF = '(eteins|eteint|eteindre|eteignez|coupe|couper|coupez|arrete|arreter|arretez|stoppe|desactive)'
const NIGHT = '(mode nuit|mode de nuit|vision nocturne|vision de nuit|mode nocturne|infrarouge|infrarouges|mode infrarouge|ir|mode obscurite|vision infrarouge)'
const VOL = '(volume|son)'
const SET = '(mets|met|mettre|mettez|regle|regler|reglez|fixe|ajuste|passe|monte|baisse|augmente|diminue)'
const UP = '(monte|monter|montez|augmente|augmenter|augmentez|hausse|remonte|pousse)'
const DOWN = '(baisse|baisser|baissez|diminue|diminuer|diminuez|descends|descendre|reduis|reduire|reduisez)'

export const FR: Grammar = {
  lang: 'fr',
  templates: [
    { intent: 'SetNightMode', pattern: `(active|activer|activez|allume|allumer|mets|met|passe|passer|lance|enclenche) … ${NIGHT}`, set: { on: true } },
    { intent: 'SetNightMode', pattern: `(desactive|desactiver|desactivez|eteins|eteindre|coupe|couper|arrete|arreter|enleve|retire|quitte) … ${NIGHT}`, set: { on: false } },
    { intent: 'SetNightMode', pattern: `${NIGHT} (desactive|off|eteint|coupe)`, set: { on: false } },
    { intent: 'SetNightMode', pattern: '(sors|sortir|sortez|fais sortir) … (du|de) (mode nuit|mode de nuit|mode nocturne|mode infrarouge|infrarouge)', set: { on: false } },
    { intent: 'SetNightMode', pattern: '(passe|repasse|mets|remets|bascule|rebascule) … (en|au) (mode jour|mode de jour|mode normal|mode diurne|vision de jour|vision normale)', set: { on: false } },
    { intent: 'SetNightMode', pattern: `${NIGHT} [active|on|allume]`, set: { on: true } },

    { intent: 'Unmute', pattern: `(remets|remet|remettre|reactive|reactiver|rallume|retablis|retablir|rends) … ${VOL}` },
    { intent: 'Unmute', pattern: '(enleve|enlever|retire|retirer|desactive|desactiver|arrete|coupe|sors|sortir) … (sourdine|mode silencieux|silencieux|mode muet|muet)' },
    { intent: 'Unmute', pattern: 'fin … sourdine' },
    { intent: 'Mute', pattern: '(mets|met|mettre|passe) … (sourdine|muet|silencieux|mode silencieux)' },
    { intent: 'Mute', pattern: `(coupe|couper|coupez|eteins|enleve|supprime) … ${VOL}` },
    { intent: 'Mute', pattern: '(sourdine|silence|chut|muet)' },
    { intent: 'Mute', pattern: '(tais toi|taisez vous|fais silence|faites silence|mode silencieux|silencieux|silencieuse)' },

    { intent: 'SetVolume', pattern: `[${SET} …] ${VOL} … (a fond|au maximum|au max|maximum|max)`, set: { level: 100 } },
    { intent: 'SetVolume', pattern: `[${SET} …] ${VOL} … (au minimum|au min|minimum|a zero)`, set: { level: 0 } },
    { intent: 'SetVolume', pattern: `${SET} … ${VOL} … (a|sur|au) {num}` },
    { intent: 'SetVolume', pattern: `${VOL} … (a|sur|au) {num}` },
    { intent: 'SetVolume', pattern: `${VOL} {num}` },
    { intent: 'SetVolume', pattern: `${SET} … (a|sur) {num}` },

    { intent: 'ChangeVolume', pattern: `${UP} … ${VOL}`, set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: `${DOWN} … ${VOL}`, set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: `${VOL} (plus fort|plus haut)`, set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: `${VOL} (moins fort|plus bas)`, set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '(plus fort|plus haut)', set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: '(moins fort|plus bas|moins haut|plus doucement|moins de bruit)', set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '(trop fort|trop haut|trop bruyant|trop de bruit|ca crie|casse les oreilles)', set: { delta: -STEP }, remark: true },
    { intent: 'ChangeVolume', pattern: '(pas assez fort|trop bas|trop faible|trop doucement|entend rien|entends rien|entend pas|entends pas|entend mal|entends mal|entend plus|entends plus)', set: { delta: STEP }, remark: true },
    { intent: 'ChangeVolume', pattern: `^ ${UP}`, set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: `^ ${DOWN}`, set: { delta: -STEP } },

    { intent: 'MediaNext', pattern: '(passe|passer|passez|va|aller|saute|sauter) … (suivant|suivante)' },
    { intent: 'MediaNext', pattern: '(mets|met|mettre|joue|jouer|lance|lancer) … (suivant|suivante|prochain|prochaine)' },
    { intent: 'MediaNext', pattern: '(change|changer|changez) … (chanson|morceau|musique|titre|piste|son|disque)' },
    { intent: 'MediaNext', pattern: '[un|une] autre (chanson|morceau|titre|piste|chose)' },
    { intent: 'MediaNext', pattern: '(zappe|zapper|zap|saute|sauter|passe|passer|skip)' },
    { intent: 'MediaNext', pattern: '(suivant|suivante|next)' },
    { intent: 'MediaNext', pattern: '(chanson|morceau|titre|piste|celle|celui) (d apres|qui suit)' },
    { intent: 'MediaResume', pattern: '(reprends|reprendre|reprenez|reprend)' },
    { intent: 'MediaResume', pattern: '(relance|relancer|continue|continuer|continuez|remets|remettre|redemarre) … (musique|lecture|chanson|morceau|playlist)' },
    { intent: 'MediaResume', pattern: '^ (continue|continuez) $' },
    { intent: 'MediaPause', pattern: '(mets|met|mettre|mettez) … pause' },
    { intent: 'MediaPause', pattern: '(pause|pose)' },
    { intent: 'MediaPause', pattern: '(arrete|arreter|arretez|stoppe|stop|coupe|couper) … (musique|lecture|chanson|morceau|playlist|zik|musiques|chansons|piste|titre|radio)' },
    { intent: 'MediaPause', pattern: '^ (stop|arrete|arretez|stoppe) $' },
    { intent: 'MediaPlay', pattern: '(lance|lancer|mets|met|demarre) … (musique|playlist|radio)' },
    { intent: 'MediaPlay', pattern: '(fais|faites|fait) (jouer|entendre|ecouter)' },
    { intent: 'MediaPlay', pattern: '(joue|jouer|jouez|lance|lancer|lancez|ecouter|ecoute|entendre|balance)' },
    // `mettre` and `passer` also mean put and pass: play only with something playable after them (`mets la table`).
    { intent: 'MediaPlay', pattern: '(mets|met|mettre|mettez|passe|passer|passez)', playableObject: true },

    { intent: 'ShowCamera', pattern: 'qui … (sonne|est|frappe) … porte', impliedRoom: 'front door' },
    { intent: 'ShowCamera', pattern: 'qui (est|sonne|frappe|c est|attend|traine) (a|devant|dehors|au|dans|sur)' },
    { intent: 'ShowCamera', pattern: '[il] [y] [a] [t il] quelqu un (a|au|dans|devant|sur|dehors)' },
    { intent: 'ShowCamera', pattern: '(ce qui|qu est ce qui|que) se passe' },
    { intent: 'ShowCamera', pattern: '(surveille|surveiller|jette un oeil|jeter un oeil|coup d oeil|regarde|regarder)' },
    { intent: 'ShowCamera', pattern: '(fais|faites) [moi|nous] voir' },
    { intent: 'ShowCamera', pattern: '^ voir' },
    { intent: 'ShowCamera', pattern: '(montre|montrer|montrez|affiche|afficher|affichez) [moi|nous]' },
    { intent: 'ShowCamera', pattern: '(fais|faites) voir' },
    { intent: 'ShowCamera', pattern: '(je veux|j aimerais|je voudrais) voir' },
    { intent: 'ShowCamera', pattern: '(lance|lancer|demarre|ouvre) … (flux|video|direct|stream|streaming|diffusion)' },
    { intent: 'ShowCamera', pattern: '(que se passe t il|qu est ce qui se passe) (dans|a|au|devant)' },
    { intent: 'TakeSnapshot', pattern: '(prends|prendre|prenez|fais|faire|faites|capture|capturer) … (photo|photos|capture|cliche|instantane|image)' },
    { intent: 'TakeSnapshot', pattern: '(photographie|photographier|photo|capture|capture d ecran|cliche|instantane)' },

    { intent: 'GetHeartRate', pattern: '(rythme|frequence) cardiaque' },
    { intent: 'GetHeartRate', pattern: '(pouls|bpm|battements|pulsations|cardio|cardiaque)' },
    { intent: 'GetHeartRate', pattern: 'coeur (bat|battre)' },
    { intent: 'GetHeartRate', pattern: '(battements|bat) … coeur' },
    { intent: 'GetSteps', pattern: '(nombre|combien|compteur|objectif) … pas' },
    { intent: 'GetSteps', pattern: '(podometre|objectif de marche|distance parcourue)' },
    { intent: 'GetSteps', pattern: 'pas … (aujourd hui|fait|faits|marche|marches)' },
    { intent: 'GetSteps', pattern: '^ … pas' },
    { intent: 'GetBattery', pattern: '(batterie|batteries|charge|chargee|autonomie|pile|piles|recharge|rechargee|recharger|rechargement|a plat|decharge|dechargee)' },
    { intent: 'CheckForUpdates', pattern: '(mise|mises) a jour' },
    { intent: 'CheckForUpdates', pattern: '(mets|met|mettre) a jour' },
    { intent: 'CheckForUpdates', pattern: 'a jour' },
    { intent: 'CheckForUpdates', pattern: '(maj|micrologiciel|firmware|nouvelle version|derniere version|version plus recente|correctif|correctifs)' },
    { intent: 'FindDevice', pattern: 'ou … (est|sont|ai|as|se trouve|j ai mis|j ai pose)' },
    { intent: 'FindDevice', pattern: '(trouve|trouver|retrouve|retrouver|cherche|chercher|localise|localiser|perdu|disparu|disparue|introuvable|egare|egaree|paume)' },
    { intent: 'FindDevice', pattern: '(fais|faire|faites) (sonner|vibrer|biper)' },
    { intent: 'FindDevice', pattern: '(sonner|vibrer|bipe|biper)' },

    { intent: 'SetAlarm', pattern: '(reveille|reveiller|reveillez) [moi|nous]' },
    { intent: 'SetAlarm', pattern: '(mets|met|mettre|programme|programmer|regle|regler|cree|creer|ajoute|ajouter|active|activer|pose) … (reveil|alarme)' },
    { intent: 'SetAlarm', pattern: '(reveil|alarme)' },

    { intent: 'TurnOff', pattern: '(mets|met|mettre|mettez|passe) … (hors tension|en veille)' },
    { intent: 'TurnOn', pattern: '(mets|met|mettre|mettez|passe) … sous tension' },
    { intent: 'TurnOff', pattern: '(hors tension|debranche|debrancher|debranchez)' },
    { intent: 'TurnOn', pattern: '(sous tension|active|activer|activez|branche|brancher|rebranche)' },
    { intent: 'TurnOff', pattern: OFF },
    { intent: 'TurnOn', pattern: ON }
  ],
  extras: {
    SetVolume: ['volume', 'son', 'niveau', 'pourcent'],
    ChangeVolume: [...MEDIA_WORDS, 'volume', 'son', 'peu', 'encore', 'plus', 'beaucoup', 'petit', 'poil', 'cran', 'crans', 'de', 'fort', 'mets', 'met'],
    Mute: ['son', 'sourdine', 'mode'],
    Unmute: ['son', 'sourdine', 'mode'],
    MediaPlay: MEDIA_WORDS,
    MediaPause: MEDIA_WORDS,
    MediaResume: [...MEDIA_WORDS, 'la', 'ou', 'elle', 'il', 'en', 'etait', 'etais', 'on', 's', 'etait', 'arrete', 'arretee'],
    MediaNext: [...MEDIA_WORDS, 'ce', 'cette', 'suivant', 'suivante', 'prochain', 'prochaine', 'autre', 'passe', 'mets', 'met', 'joue', 'lance'],
    ShowCamera: ['camera', 'flux', 'video', 'direct', 'image', 'images', 'voir', 'qui', 'se', 'passe', 'quoi', 'il', 'y', 'a', 'ce', 'quelqu', 'un', 'dehors', 'en', 'ce', 'moment'],
    TakeSnapshot: ['photo', 'image', 'rapide', 'ecran', 'capture', 'nouvelle'],
    SetNightMode: ['mode', 'nuit', 'vision', 'nocturne'],
    GetHeartRate: [...QUERY, 'bat', 'coeur', 'battements', 'par', 'minute', 'cardiaque', 'rythme', 'frequence', 'mesure', 'mesurer', 'mon', 'en', 'ce', 'moment', 'maintenant', 'combien', 'a'],
    GetSteps: [...QUERY, 'pas', 'fait', 'faits', 'marche', 'marches', 'aujourd', 'hui', 'nombre', 'compteur', 'parcouru', 'jour', 'ce', 'jusqu', 'ici', 'ai', 'je', 'objectif', 'ou', 'en', 'suis', 'depuis', 'matin', 'atteint', 'quotidien'],
    GetBattery: [...QUERY, 'reste', 'restant', 'restante', 'il', 'charge', 'chargee', 'pourcentage', 'recharger', 'faut', 'encore', 'batterie', 'doit', 'etre', 'besoin', 'plus', 'n', 'ne', 'a', 'de', 'vide', 'presque', 'faible'],
    FindDevice: ['ou', 'est', 'passe', 'mis', 'pose', 'ai', 'j', 'je', 'ne', 'plus', 'pas', 'aide', 'moi', 'a', 'trouve', 'retrouve', 'sonner', 'vibrer', 'fais', 'perdu', 'sais', 'se', 'trouve', 'faire', 'le', 'la', 'nulle', 'part', 'introuvable', 'egare'],
    SetAlarm: ['demain', 'matin', 'alarme', 'reveil', 'nouvelle', 'nouveau', 'moi', 'pour'],
    CheckForUpdates: [...QUERY, 'verifie', 'verifier', 'cherche', 'chercher', 'recherche', 'y', 'a', 't', 'il', 'des', 'disponible', 'disponibles', 'nouvelle', 'nouvelles', 'jour', 'besoin', 'logiciel', 'logicielle', 'si', 'sont', 'est', 'lance', 'lancer', 'lancez', 'fais', 'faire', 'faites', 'installe', 'installer', 'une', 'la']
  }
}
